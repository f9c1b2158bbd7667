import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener } from 'node:http';
import Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { Context, Middleware } from 'koa';
import inject from 'light-my-request';
import { ALL_CAPABILITY_IDS } from '../catalogue/index.ts';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';
import type { Principal } from '../http/api/principal.ts';
import { readFormFields } from '../http/form.ts';
import type { Logger } from '../log/index.ts';
import type { RedisKeys } from '../redis/keys.ts';
import { systemAccess, type Access } from '../services/authority.ts';
import type { Services } from '../services/index.ts';
import { BarePage, Layout, type Notice, type Viewer } from '../views/console/layout.tsx';
import { type ConsoleContext, type ConsolePage, send } from './core.ts';
import { applicationPages } from './applications.tsx';
import { auditPages } from './audit.tsx';
import { brandingPages } from './branding.tsx';
import { jobPages } from './jobs.tsx';
import { groupPages } from './groups.tsx';
import { rolePages } from './roles.tsx';
import { CONSOLE_SESSION_MAX_SECONDS, createConsoleSessions, randomToken, safeEqual, sha256, type ConsoleSession } from './session.ts';
import { userPages } from './users.tsx';

export interface ConsoleDeps {
  config: Config;
  services: Services;
  redis: Redis;
  keys: RedisKeys;
  /** The server secret shared by every process: console sessions are encrypted under a key derived from it. */
  secret: string;
  logger: Logger;
  /** The admin API's token check (http/api/principal.ts): the console's tokens pass the same one. */
  authenticate: (token: string) => Promise<Principal>;
  /** Tessera's own request listener: the console redeems codes and refresh tokens at its token endpoint in-process. */
  dispatch: () => RequestListener;
}

const COOKIE = 'tessera_console';
const LOGIN_COOKIE = 'tessera_console_login';
const TENANT_COOKIE = 'tessera_console_tenant';
/** Refresh this long before the access token expires, so a page never works with one about to lapse. */
const REFRESH_MARGIN_SECONDS = 30;

/**
 * The console's Content-Security-Policy (CHECKLIST 41): scripts and styles from
 * the console's own files only (no inline script, no inline style), no
 * plugins, no framing except the branding preview by the console itself.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const ASSETS: Record<string, { type: string; body: Buffer }> = Object.fromEntries(
  (['console.css', 'console.js'] as const).map((name) => [
    name,
    { type: name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', body: readFileSync(new URL(`./assets/${name}`, import.meta.url)) },
  ]),
);
const ASSET_VERSION = createHash('sha256')
  .update(Object.values(ASSETS).map((a) => a.body).join(''))
  .digest('base64url')
  .slice(0, 12);

/** GET / (and HEAD): the issuer's root page. */
export const isRootPage = (req: IncomingMessage): boolean => (req.method === 'GET' || req.method === 'HEAD') && /^\/(\?|$)/.test(req.url ?? '');

/** The admin console under /console (SPEC §13), and the issuer's root page. */
export function consoleRouter(deps: ConsoleDeps): Router {
  const { config, services } = deps;
  const sessions = createConsoleSessions({ redis: deps.redis, keys: deps.keys, secret: deps.secret });
  const secure = config.issuer.startsWith('https://');
  const cookieOpts = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/console', signed: false, overwrite: true };
  const issuerUrl = new URL(config.issuer);

  /** The token endpoint, called in-process with the console's own (public, PKCE) client. */
  async function tokenEndpoint(params: Record<string, string>): Promise<{ access_token: string; refresh_token?: string; id_token?: string; expires_in: number }> {
    const res = await inject(deps.dispatch(), {
      method: 'POST',
      url: '/token',
      remoteAddress: '127.0.0.1',
      headers: { host: issuerUrl.host, 'content-type': 'application/x-www-form-urlencoded', ...(secure ? { 'x-forwarded-proto': 'https' } : {}) },
      payload: new URLSearchParams(params).toString(),
    });
    const body = JSON.parse(res.payload || '{}') as { access_token?: string; error?: string; error_description?: string };
    if (res.statusCode !== 200 || !body.access_token) throw new AppError(401, body.error ?? 'token_error', body.error_description ?? 'the token endpoint refused the console');
    return body as { access_token: string; refresh_token?: string; id_token?: string; expires_in: number };
  }

  /** The page header's names, read once per sign-in or refresh rather than on every page. */
  async function headerOf(tenantId: string, userId: string): Promise<ConsoleSession['header']> {
    const access = systemAccess(tenantId);
    const [me, branding] = await Promise.all([services.users.get(access, userId), services.tenants.branding(access)]);
    return { name: me.displayName ?? me.email, email: me.email, tenant: branding.display_name };
  }

  const router = new Router();

  // The issuer's root: where to go, instead of "Not Found".
  router.get('/', (ctx) => {
    ctx.set('Content-Security-Policy', CONSOLE_CSP);
    send(
      ctx,
      <BarePage title="Tessera">
        <p>This is a Tessera OpenID Connect issuer.</p>
        <ul>
          <li>
            <a href="/console">Admin console</a>: sign in with an admin account.
          </li>
          <li>
            <a href="/.well-known/openid-configuration">Discovery document</a> (<code>/.well-known/openid-configuration</code>) for applications.
          </li>
          <li>
            <a href="/api/v1/openapi.json">Admin API description</a> (OpenAPI 3.1).
          </li>
        </ul>
      </BarePage>,
    );
  });

  const con = new Router({ prefix: '/console' });
  con.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', CONSOLE_CSP);
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      // The console answers in HTML: a refusal says why in words, an internal error says nothing about internals.
      const known = err instanceof AppError && err.status < 500;
      if (!known) deps.logger.error({ err }, 'console request failed');
      ctx.set('Content-Security-Policy', CONSOLE_CSP);
      send(
        ctx,
        <BarePage title={known ? 'This could not be done' : 'Something went wrong'}>
          <p>{known ? (err as AppError).message : 'Something went wrong on our side. Try again shortly.'}</p>
          {known ? (
            <p class="muted">
              Code: <code>{(err as AppError).code}</code>
            </p>
          ) : null}
          <p>
            <a href="/console">Back to the console</a>
          </p>
        </BarePage>,
        known ? (err as AppError).status : 500,
      );
    }
  });

  con.get('/assets/:name', (ctx) => {
    const asset = ASSETS[ctx.params.name!];
    if (!asset) throw new AppError(404, 'not_found', 'no such console asset');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('ETag', `"${ASSET_VERSION}"`);
    ctx.type = asset.type;
    ctx.body = asset.body;
  });

  /** Signed in? The landing page offers the sign-in; a deep link goes straight to it. */
  con.get('/', async (ctx) => {
    if (await currentSession(ctx)) return ctx.redirect('/console/users');
    const only = await services.console.onlyTenant();
    const remembered = ctx.cookies.get(TENANT_COOKIE)?.slice(0, 100) ?? '';
    send(
      ctx,
      <BarePage title="Tessera console">
        <p>Sign in with your admin account. You see and change only what your roles allow.</p>
        <form method="get" action="/console/login">
          {only ? (
            <input type="hidden" name="tenant" value={only.slug} />
          ) : (
            <>
              <label for="tenant">Tenant</label>
              <input id="tenant" type="text" name="tenant" value={remembered} required autocomplete="organization" />
            </>
          )}
          <p>
            <button type="submit">Sign in</button>
          </p>
        </form>
      </BarePage>,
    );
  });

  con.get('/login', async (ctx) => {
    // The tenant asked for, else the one this browser last signed in to, else the only one there is.
    const asked = typeof ctx.query.tenant === 'string' ? ctx.query.tenant.trim() : '';
    const slug = asked || (ctx.cookies.get(TENANT_COOKIE) ?? '');
    const tenant = slug ? await services.console.tenantBySlug(slug.slice(0, 100)) : await services.console.onlyTenant();
    if (!tenant) {
      send(
        ctx,
        <BarePage title="Unknown tenant">
          <p>There is no tenant with that name.</p>
          <p>
            <a href="/console">Back</a>
          </p>
        </BarePage>,
        404,
      );
      return;
    }
    const clientId = await services.console.ensureClient(tenant.id, config.issuer);
    const verifier = randomToken();
    const state = randomToken();
    const nonce = randomToken();
    const returnTo = typeof ctx.query.return === 'string' && /^\/console\/[A-Za-z0-9/_-]*$/.test(ctx.query.return) ? ctx.query.return : '/console/users';
    await sessions.startLogin(state, { tenantId: tenant.id, verifier, binding: sha256(nonce), returnTo });
    ctx.cookies.set(LOGIN_COOKIE, nonce, { ...cookieOpts, maxAge: 600_000 });
    // Not a secret: which tenant's console this browser uses, so a later sign-in doesn't ask again.
    ctx.cookies.set(TENANT_COOKIE, tenant.slug, { ...cookieOpts, maxAge: 365 * 86_400_000 });
    const url = new URL(`${config.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: `${config.issuer}/console/callback`,
      scope: ['openid', 'profile', 'email', ...ALL_CAPABILITY_IDS].join(' '),
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    ctx.redirect(url.href);
  });

  con.get('/callback', async (ctx) => {
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const code = typeof ctx.query.code === 'string' ? ctx.query.code : '';
    const pending = state ? await sessions.takeLogin(state) : undefined;
    const nonce = ctx.cookies.get(LOGIN_COOKIE);
    ctx.cookies.set(LOGIN_COOKIE, null, cookieOpts);
    if (!pending || !nonce || !safeEqual(sha256(nonce), pending.binding)) {
      send(ctx, <SignInFailed reason="This sign-in was not started in this browser, or it took too long." />, 400);
      return;
    }
    if (!code) {
      const reason = typeof ctx.query.error_description === 'string' ? ctx.query.error_description : 'Tessera did not sign you in.';
      send(ctx, <SignInFailed reason={reason} />, 400);
      return;
    }
    let tokens;
    let principal;
    try {
      tokens = await tokenEndpoint({
        grant_type: 'authorization_code',
        code,
        redirect_uri: `${config.issuer}/console/callback`,
        code_verifier: pending.verifier,
        client_id: (await services.console.ensureClient(pending.tenantId, config.issuer)),
      });
      principal = await deps.authenticate(tokens.access_token);
    } catch (err) {
      deps.logger.info({ err: err instanceof AppError ? err.code : 'error' }, 'console sign-in refused');
      send(ctx, <SignInFailed reason="Tessera did not accept this sign-in. Try again." />, 400);
      return;
    }
    if (principal.actor.type !== 'user' || principal.tenantId !== pending.tenantId) {
      send(ctx, <SignInFailed reason="The console is for people; sign in with a user account." />, 400);
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const id = await sessions.create({
      tenantId: principal.tenantId,
      userId: principal.actor.id,
      accessToken: tokens.access_token,
      accessExpiresAt: now + tokens.expires_in,
      refreshToken: tokens.refresh_token ?? null,
      idToken: tokens.id_token ?? null,
      csrf: randomToken(),
      header: await headerOf(principal.tenantId, principal.actor.id),
      endsAt: now + CONSOLE_SESSION_MAX_SECONDS,
    });
    ctx.cookies.set(COOKIE, id, cookieOpts);
    ctx.redirect(pending.returnTo);
  });

  /**
   * The signed-in admin behind this request, or undefined. The access token is
   * refreshed shortly before it expires and checked on every request with the
   * admin API's own check, so a revoke-all, a suspension or a disabled console
   * client ends the session at the next request.
   */
  async function currentSession(ctx: Context): Promise<{ id: string; session: ConsoleSession; principal: Principal } | undefined> {
    const id = ctx.cookies.get(COOKIE);
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    let session = await sessions.get(id);
    if (!session) return undefined;
    const now = Math.floor(Date.now() / 1000);
    if (session.accessExpiresAt - REFRESH_MARGIN_SECONDS <= now) {
      const stale = session;
      session = await sessions.withRefreshLock(
        id,
        async () => {
          const fresh = await sessions.get(id);
          if (!fresh || fresh.accessExpiresAt - REFRESH_MARGIN_SECONDS > now) return fresh;
          if (!fresh.refreshToken) return undefined;
          try {
            const tokens = await tokenEndpoint({ grant_type: 'refresh_token', refresh_token: fresh.refreshToken, client_id: (await services.console.ensureClient(stale.tenantId, config.issuer)) });
            const next: ConsoleSession = {
              ...fresh,
              accessToken: tokens.access_token,
              accessExpiresAt: Math.floor(Date.now() / 1000) + tokens.expires_in,
              refreshToken: tokens.refresh_token ?? fresh.refreshToken,
              idToken: tokens.id_token ?? fresh.idToken,
              header: await headerOf(fresh.tenantId, fresh.userId),
            };
            await sessions.save(id, next);
            return next;
          } catch {
            return undefined;
          }
        },
        () => sessions.get(id),
      );
      if (!session) {
        await sessions.destroy(id);
        return undefined;
      }
    }
    try {
      const principal = await deps.authenticate(session.accessToken);
      if (principal.actor.type !== 'user' || principal.actor.id !== session.userId) throw new AppError(401, 'invalid_token', 'not this session’s admin');
      return { id, session, principal };
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 401) throw err;
      await sessions.destroy(id);
      return undefined;
    }
  }

  con.post('/logout', async (ctx) => {
    const current = await currentSession(ctx);
    const form = await readFormFields(ctx);
    if (!current || !safeEqual(form.one._csrf ?? '', current.session.csrf)) throw forbiddenCsrf();
    await sessions.destroy(current.id);
    ctx.cookies.set(COOKIE, null, cookieOpts);
    const url = new URL(`${config.issuer}/session/end`);
    url.search = new URLSearchParams({
      client_id: await services.console.ensureClient(current.session.tenantId, config.issuer),
      post_logout_redirect_uri: `${config.issuer}/console`,
      ...(current.session.idToken ? { id_token_hint: current.session.idToken } : {}),
    }).toString();
    ctx.status = 303;
    ctx.redirect(url.href);
  });

  const pages: ConsolePage[] = [...userPages(deps), ...groupPages(deps), ...rolePages(deps), ...applicationPages(deps), ...auditPages(deps), ...brandingPages(deps), ...jobPages(deps)];
  for (const page of pages) {
    const handler: Middleware = async (ctx) => {
      const current = await currentSession(ctx);
      if (!current) {
        if (page.method === 'GET') return ctx.redirect(`/console/login?return=${encodeURIComponent(ctx.path)}`);
        throw new AppError(401, 'unauthenticated', 'your console session has ended; sign in again');
      }
      const { session, principal } = current;
      const held = await principal.held();
      const access: Access = { tenantId: principal.tenantId, actor: principal.actor, held, graph: () => principal.graph() };
      const viewer: Viewer = { ...session.header, csrf: session.csrf, held };
      let form: ConsoleContext['form'] = { one: {}, many: {} };
      if (page.method === 'POST') {
        // CSRF (CHECKLIST 41): every console form carries the session's token; nothing runs without it.
        form = await readFormFields(ctx, { limit: 256 * 1024, lists: page.lists ?? [] });
        if (!safeEqual(form.one._csrf ?? '', session.csrf)) throw forbiddenCsrf();
      }
      const missing = page.needs.filter((c) => !held.has(c));
      if (missing.length) {
        send(
          ctx,
          <Layout title="Not allowed" viewer={viewer}>
            <p>Your roles don’t allow this. It needs: {missing.join(', ')}.</p>
          </Layout>,
          403,
        );
        return;
      }
      const notice = session.notice;
      if (notice) {
        delete session.notice;
        await sessions.save(current.id, session);
      }
      await page.handle({
        ctx,
        access,
        viewer,
        session,
        form,
        notice,
        async redirect(to: string, next?: Notice) {
          if (next) {
            session.notice = next;
            await sessions.save(current.id, session);
          }
          ctx.status = 303;
          ctx.redirect(to);
        },
      });
    };
    if (page.method === 'GET') con.get(page.path, handler);
    else con.post(page.path, handler);
  }

  router.use(con.routes(), con.allowedMethods());
  return router;
}

const forbiddenCsrf = () => new AppError(403, 'csrf_failed', 'this form is missing its security token or it is stale; reload the page and try again');

function SignInFailed({ reason }: { reason: string }) {
  return (
    <BarePage title="Sign-in failed">
      <p>{reason}</p>
      <p>
        <a href="/console">Start again</a>
      </p>
    </BarePage>
  );
}

