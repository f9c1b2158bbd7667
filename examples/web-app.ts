/**
 * The quickstart's web application: Express + openid-client, signing people in
 * with Tessera (authorization code + PKCE), showing who signed in and the
 * capability scopes their access token carries, and signing out through
 * Tessera (RP-initiated logout).
 *
 *   TESSERA_ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… npm run example:web
 *
 * Register the application with the redirect URI `<APP_URL>/callback` and the
 * post-logout redirect URI `<APP_URL>/` (docs/quickstart.md shows the call).
 * APP_URL defaults to http://127.0.0.1:8080, PORT to its port, and SCOPE to
 * `openid profile email reports:view`.
 *
 * Tokens stay on the server, in an in-memory session; the browser holds only an
 * httpOnly, SameSite=Lax session cookie. One process, development only: a real
 * deployment keeps sessions in a shared store and serves over https.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import express, { type Request, type Response } from 'express';
import * as oidc from 'openid-client';

export interface WebAppOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where browsers reach this app, e.g. http://127.0.0.1:8080. */
  appUrl: string;
  scope?: string;
}

interface Pending {
  verifier: string;
  state: string;
}

interface SignedIn {
  claims: oidc.IDToken;
  idToken: string;
  accessToken: string;
  scopes: string[];
  expiresAt: number;
}

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
code,li{font-family:ui-monospace,monospace}button,.button{font:inherit;padding:.5rem 1rem;border-radius:.375rem;border:0;background:#1d4ed8;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
dt{font-weight:600}dd{margin:0 0 .75rem}</style></head>
<body><main>${body}</main></body></html>`;

/** The scope claim of a JWT access token, or none for an opaque one (only a resource server needs to read it; shown here to learn from). */
function scopesOf(accessToken: string): string[] {
  const parts = accessToken.split('.');
  if (parts.length !== 3) return [];
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { scope?: string };
    return (payload.scope ?? '').split(' ').filter(Boolean);
  } catch {
    return [];
  }
}

export async function createWebApp(opts: WebAppOptions): Promise<express.Express> {
  const issuer = new URL(opts.issuer);
  // http is for a local issuer only (openid-client refuses it unless told).
  const config = await oidc.discovery(issuer, opts.clientId, opts.clientSecret, undefined, issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {});
  const redirectUri = new URL('/callback', opts.appUrl).href;
  const home = new URL('/', opts.appUrl).href;
  const scope = opts.scope ?? 'openid profile email reports:view';
  const secure = new URL(opts.appUrl).protocol === 'https:';

  const sessions = new Map<string, { pending?: Pending; user?: SignedIn }>();
  const COOKIE = 'example_session';
  const sessionOf = (req: Request, res: Response) => {
    const id = /(?:^|;\s*)example_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1];
    if (id && sessions.has(id)) return { id, data: sessions.get(id)! };
    const fresh = randomBytes(32).toString('base64url');
    sessions.set(fresh, {});
    res.cookie(COOKIE, fresh, { httpOnly: true, sameSite: 'lax', secure, path: '/' });
    return { id: fresh, data: sessions.get(fresh)! };
  };

  const app = express();
  app.disable('x-powered-by');

  app.get('/', (req, res) => {
    const { data } = sessionOf(req, res);
    const user = data.user;
    if (!user) {
      res.send(page('Example app', `<h1>Example app</h1><p>You are signed out.</p><p><a class="button" href="/login">Sign in with Tessera</a></p>`));
      return;
    }
    res.send(
      page(
        'Example app',
        `<h1>Signed in</h1>
<dl><dt>Name</dt><dd data-field="name">${esc(user.claims.name ?? '')}</dd>
<dt>Email</dt><dd data-field="email">${esc(user.claims.email ?? '')}</dd>
<dt>Subject</dt><dd data-field="sub"><code>${esc(user.claims.sub)}</code></dd>
<dt>Access token scopes</dt><dd><ul data-field="scopes">${user.scopes.map((s) => `<li>${esc(s)}</li>`).join('') || '<li>(none)</li>'}</ul></dd>
<dt>Access token expires</dt><dd>${esc(new Date(user.expiresAt).toISOString())}</dd></dl>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>`,
      ),
    );
  });

  app.get('/login', async (req, res) => {
    const { data } = sessionOf(req, res);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    data.pending = { verifier, state };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    res.redirect(url.href);
  });

  app.get('/callback', async (req, res) => {
    const { data } = sessionOf(req, res);
    const pending = data.pending;
    delete data.pending;
    if (!pending) {
      res.status(400).send(page('Sign-in failed', '<h1>Sign-in failed</h1><p>This sign-in was not started here. <a href="/">Start again</a>.</p>'));
      return;
    }
    try {
      const tokens = await oidc.authorizationCodeGrant(config, new URL(req.originalUrl, opts.appUrl), { pkceCodeVerifier: pending.verifier, expectedState: pending.state });
      data.user = {
        claims: tokens.claims()!,
        idToken: tokens.id_token!,
        accessToken: tokens.access_token,
        scopes: scopesOf(tokens.access_token),
        expiresAt: Date.now() + (tokens.expiresIn() ?? 0) * 1000,
      };
      res.redirect('/');
    } catch (err) {
      const message = err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError ? `${err.error}: ${err.error_description ?? ''}` : 'the code could not be redeemed';
      res.status(400).send(page('Sign-in failed', `<h1>Sign-in failed</h1><p>${esc(message)}</p><p><a href="/">Start again</a></p>`));
    }
  });

  app.post('/logout', (req, res) => {
    const { id, data } = sessionOf(req, res);
    const idToken = data.user?.idToken;
    sessions.delete(id);
    res.clearCookie(COOKIE, { path: '/' });
    if (!idToken) {
      res.redirect(303, '/');
      return;
    }
    res.redirect(303, oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: home }).href);
  });

  return app;
}

/** Starts the app from the environment (the quickstart's `npm run example:web`). */
async function main(): Promise<Server> {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) {
      console.error(`${name} is not set. Register the app first (docs/quickstart.md, step 4) and pass its id and secret:\n  CLIENT_ID=… CLIENT_SECRET=… npm run example:web`);
      process.exit(2);
    }
    return v;
  };
  const appUrl = process.env.APP_URL ?? 'http://127.0.0.1:8080';
  const port = Number(process.env.PORT ?? (new URL(appUrl).port || 8080));
  const app = await createWebApp({
    issuer: process.env.TESSERA_ISSUER ?? 'http://localhost:3000',
    clientId: need('CLIENT_ID'),
    clientSecret: need('CLIENT_SECRET'),
    appUrl,
    ...(process.env.SCOPE ? { scope: process.env.SCOPE } : {}),
  });
  return app.listen(port, new URL(appUrl).hostname, () => console.log(`Example app listening: open ${appUrl}`));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
