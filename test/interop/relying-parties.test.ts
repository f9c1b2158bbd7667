/**
 * Interop, relying parties (issue 12): unmodified client libraries on their
 * README defaults sign a person in against a running Tessera whose access
 * tokens are signed with ES256, then RS256. Each one gets the person's
 * identity, an access token carrying the capability the person's role grants,
 * and where the library does it, userinfo and refresh.
 *
 * The one departure from a README default is express-openid-connect's
 * `response_type`: its default is the implicit `id_token` flow, which Tessera
 * doesn't offer (SPEC §6: authorization code + PKCE), so it is configured with
 * `code` as its README's "obtaining an access token" section shows.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Auth, type AuthConfig } from '@auth/core';
import express from 'express';
import { auth as eocAuth, requiresAuth, type ConfigParams } from 'express-openid-connect';
import session from 'express-session';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { Strategy as PassportStrategyV6 } from 'openid-client/passport';
import { Issuer, Strategy as PassportStrategyV5, generators, type TokenSet, type UserinfoResponse } from 'openid-client-v5';
import passport from 'passport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGS, CAPABILITY, headerOf, listen, scopesOf, startInterop, UserAgent, type Interop } from './harness.ts';

const SCOPE = `openid profile email ${CAPABILITY}`;
/** The store type express-openid-connect declares for Back-Channel Logout entries. */
type LogoutStore = NonNullable<Exclude<ConfigParams['backchannelLogout'], boolean | undefined>['store']>;

describe.each(ALGS)('relying parties against Tessera signing access tokens with %s', (alg) => {
  let env: Interop;
  let issuer: string;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    env = await startInterop(alg);
    issuer = env.t.issuer;
  });
  afterAll(async () => {
    await Promise.all(closers.map((c) => c()));
    await env?.close();
  });

  const ua = () => new UserAgent(issuer, env.person);

  /** What every sign-in must have produced: the person, an access token with the role's capability, signed with the configured algorithm. */
  async function expectTokens(idToken: string | undefined, accessToken: string, expectedIdAlg = 'RS256') {
    expect(idToken).toBeDefined();
    expect(headerOf(idToken!).alg).toBe(expectedIdAlg);
    expect(decodeJwt(idToken!).sub).toBe(env.person.id);
    expect(headerOf(accessToken).alg).toBe(alg);
    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer, typ: 'at+jwt' });
    expect(payload.sub).toBe(env.person.id);
    expect(scopesOf(payload.scope).has(CAPABILITY)).toBe(true);
  }

  it('openid-client v6: discovery, code + PKCE, ID token, userinfo, refresh, client credentials', async () => {
    const cb = 'http://127.0.0.1:9/v6/cb';
    const app = await env.webApp([cb]);
    // README: discovery(server, clientId, clientSecret) — client_secret_post by default; http needs the documented opt-in.
    const config = await oidc.discovery(new URL(issuer), app.id, app.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    expect(config.serverMetadata().id_token_signing_alg_values_supported).toEqual(expect.arrayContaining([alg, 'RS256']));
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: cb, scope: SCOPE, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const back = await ua().journey(url.href, { stopAt: cb });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier, expectedState: state });
    await expectTokens(tokens.id_token, tokens.access_token);
    const claims = tokens.claims()!;
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info).toMatchObject({ sub: env.person.id, name: env.person.name, email: env.person.email });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await expectTokens(refreshed.id_token, refreshed.access_token);

    const svc = await env.serviceApp();
    const svcConfig = await oidc.discovery(new URL(issuer), svc.id, svc.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const cc = await oidc.clientCredentialsGrant(svcConfig, { scope: CAPABILITY });
    expect(headerOf(cc.access_token).alg).toBe(alg);
    expect(scopesOf(cc.scope).has(CAPABILITY)).toBe(true);
  });

  it('openid-client v5: Issuer.discover, callback() validates the RS256 ID token by default, userinfo(), refresh(); a registered ID-token alg is honoured', async () => {
    const cb = 'http://127.0.0.1:9/v5/cb';
    const app = await env.webApp([cb]);
    const tessera = await Issuer.discover(issuer);
    const run = async (client: InstanceType<typeof tessera.Client>, idAlg: string) => {
      const code_verifier = generators.codeVerifier();
      const state = generators.state();
      const url = client.authorizationUrl({ scope: SCOPE, code_challenge: generators.codeChallenge(code_verifier), code_challenge_method: 'S256', state });
      const back = await ua().journey(url, { stopAt: cb });
      const tokenSet = await client.callback(cb, client.callbackParams(back.url), { code_verifier, state });
      await expectTokens(tokenSet.id_token, tokenSet.access_token!, idAlg);
      expect(tokenSet.claims().sub).toBe(env.person.id);
      expect(await client.userinfo(tokenSet)).toMatchObject({ sub: env.person.id, email: env.person.email });
      const refreshed = await client.refresh(tokenSet);
      await expectTokens(refreshed.id_token, refreshed.access_token!, idAlg);
    };
    // The README's client: nothing about algorithms, so it expects RS256 ID tokens.
    await run(new tessera.Client({ client_id: app.id, client_secret: app.secret, redirect_uris: [cb], response_types: ['code'] }), 'RS256');
    // A client that registered the access tokens' algorithm for its ID tokens too.
    const registered = await env.webApp([cb], { id_token_signed_response_alg: alg });
    await run(
      new tessera.Client({ client_id: registered.id, client_secret: registered.secret, redirect_uris: [cb], response_types: ['code'], id_token_signed_response_alg: alg }),
      alg,
    );
  });

  it('oauth4webapi: discovery, code + PKCE, ID token checked against the default RS256, userinfo, client credentials', async () => {
    const cb = 'http://127.0.0.1:9/o4w/cb';
    const app = await env.webApp([cb]);
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
    const client: oauth.Client = { client_id: app.id };
    const clientAuth = oauth.ClientSecretBasic(app.secret);
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: app.id,
      redirect_uri: cb,
      response_type: 'code',
      scope: SCOPE,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const back = await ua().journey(url.href, { stopAt: cb });
    const params = oauth.validateAuthResponse(as, client, new URL(back.url), oauth.expectNoState);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, cb, verifier, insecure);
    const result = await oauth.processAuthorizationCodeResponse(as, client, response);
    await expectTokens(result.id_token, result.access_token);
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    const info = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, result.access_token, insecure));
    expect(info).toMatchObject({ sub: env.person.id, name: env.person.name });

    const svc = await env.serviceApp();
    const cc = await oauth.processClientCredentialsResponse(
      as,
      { client_id: svc.id },
      await oauth.clientCredentialsGrantRequest(as, { client_id: svc.id }, oauth.ClientSecretBasic(svc.secret), new URLSearchParams({ scope: CAPABILITY }), insecure),
    );
    expect(headerOf(cc.access_token).alg).toBe(alg);
  });

  it('express-openid-connect: sign-in, req.oidc.user, fetchUserInfo(), and Back-Channel Logout ends the session on a revoke-all', async () => {
    const rp = await listen();
    closers.push(rp.close);
    const app = await env.webApp([`${rp.base}/callback`], { backchannel_logout_uri: `${rp.base}/backchannel-logout` });
    const web = express();
    web.use(
      eocAuth({
        issuerBaseURL: issuer,
        baseURL: rp.base,
        clientID: app.id,
        clientSecret: app.secret,
        secret: randomBytes(32).toString('hex'),
        authorizationParams: { response_type: 'code', scope: SCOPE },
        // express-session's MemoryStore, as the README suggests for a single process (its types differ from the store interface eoc declares).
        backchannelLogout: { store: new session.MemoryStore() as unknown as LogoutStore },
      }),
    );
    web.get('/profile', requiresAuth(), (req, res) => {
      res.json({ user: req.oidc.user, idToken: req.oidc.idToken, accessToken: req.oidc.accessToken?.access_token });
    });
    web.get('/userinfo', requiresAuth(), async (req, res) => {
      res.json(await req.oidc.fetchUserInfo());
    });
    rp.handle(web);

    const agent = ua();
    const { res, url } = await agent.journey(`${rp.base}/profile`);
    expect(url).toBe(`${rp.base}/profile`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user: { sub: string; email: string }; idToken: string; accessToken: string };
    expect(body.user).toMatchObject({ sub: env.person.id, email: env.person.email });
    await expectTokens(body.idToken, body.accessToken);
    expect(await (await agent.request(`${rp.base}/userinfo`)).json()).toMatchObject({ sub: env.person.id, name: env.person.name });

    // Revoke all of the person's sessions; Tessera's logout token reaches the RP, which ends its own session.
    expect((await env.owner.delete(`/users/${env.person.id}/sessions`)).status).toBe(200);
    let after = await agent.request(`${rp.base}/profile`);
    for (let i = 0; i < 100 && after.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await agent.request(`${rp.base}/profile`);
    }
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toContain(`${issuer}/auth`);
    // Sessions from the revocation's own second are refused too (docs/security.md); later tests sign in after it.
    await afterCurrentSecond();
  });

  it('passport + openid-client v5 Strategy: verify(tokenset, userinfo, done) gets the userinfo', async () => {
    const rp = await listen();
    closers.push(rp.close);
    const app = await env.webApp([`${rp.base}/cb`]);
    const tessera = await Issuer.discover(issuer);
    const client = new tessera.Client({ client_id: app.id, client_secret: app.secret, redirect_uris: [`${rp.base}/cb`], response_types: ['code'] });
    const pp = new passport.Passport();
    pp.use(
      'oidc',
      new PassportStrategyV5({ client, params: { scope: SCOPE } }, (tokenset: TokenSet, userinfo: UserinfoResponse, done: (err: unknown, user?: Express.User) => void) =>
        done(null, { sub: tokenset.claims().sub, scope: tokenset.scope, userinfo, accessToken: tokenset.access_token, idToken: tokenset.id_token }),
      ),
    );
    pp.serializeUser((user, done) => done(null, user));
    pp.deserializeUser((user: Express.User, done) => done(null, user));
    const web = express();
    web.use(session({ secret: randomBytes(16).toString('hex'), resave: false, saveUninitialized: false }));
    web.use(pp.initialize());
    web.use(pp.session());
    web.get('/login', pp.authenticate('oidc'));
    web.get('/cb', pp.authenticate('oidc', { successRedirect: '/me', failureRedirect: '/failed' }));
    web.get('/me', (req, res) => (req.user ? res.json(req.user) : res.status(401).end()));
    web.get('/failed', (_req, res) => res.status(401).send('sign-in failed'));
    rp.handle(web);

    const { res, url } = await ua().journey(`${rp.base}/login`);
    expect(url).toBe(`${rp.base}/me`);
    const user = (await res.json()) as { sub: string; scope: string; userinfo: { sub: string; email: string }; accessToken: string; idToken: string };
    expect(user.userinfo).toMatchObject({ sub: env.person.id, email: env.person.email });
    expect(scopesOf(user.scope).has(CAPABILITY)).toBe(true);
    await expectTokens(user.idToken, user.accessToken);
  });

  it('passport + openid-client v6 Strategy (openid-client/passport): sign-in with PKCE', async () => {
    const rp = await listen();
    closers.push(rp.close);
    const app = await env.webApp([`${rp.base}/cb`]);
    const config = await oidc.discovery(new URL(issuer), app.id, app.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const pp = new passport.Passport();
    pp.use(
      'tessera',
      new PassportStrategyV6({ config, scope: SCOPE, callbackURL: `${rp.base}/cb` }, (tokens, verified) =>
        verified(null, { sub: tokens.claims()!.sub, accessToken: tokens.access_token, idToken: tokens.id_token }),
      ),
    );
    pp.serializeUser((user, done) => done(null, user));
    pp.deserializeUser((user: Express.User, done) => done(null, user));
    const web = express();
    web.use(session({ secret: randomBytes(16).toString('hex'), resave: false, saveUninitialized: false }));
    web.use(pp.session());
    web.get('/login', pp.authenticate('tessera'));
    web.get('/cb', pp.authenticate('tessera', { successRedirect: '/me', failureRedirect: '/failed' }));
    web.get('/me', (req, res) => (req.user ? res.json(req.user) : res.status(401).end()));
    web.get('/failed', (_req, res) => res.status(401).send('sign-in failed'));
    rp.handle(web);

    const { res, url } = await ua().journey(`${rp.base}/login`);
    expect(url).toBe(`${rp.base}/me`);
    const user = (await res.json()) as { sub: string; accessToken: string; idToken: string };
    expect(user.sub).toBe(env.person.id);
    await expectTokens(user.idToken, user.accessToken);
  });

  describe.each([
    { variant: 'ID token (default)', idToken: true },
    { variant: 'userinfo (idToken: false)', idToken: false },
  ])('@auth/core, profile from the $variant', ({ idToken }) => {
    it('signs in through the OIDC provider config and the session carries the person', async () => {
      const rp = await listen();
      closers.push(rp.close);
      const app = await env.webApp([`${rp.base}/auth/callback/tessera`]);
      const config: AuthConfig = {
        basePath: '/auth',
        trustHost: true,
        secret: randomBytes(32).toString('hex'),
        providers: [
          {
            id: 'tessera',
            name: 'Tessera',
            type: 'oidc',
            issuer,
            clientId: app.id,
            clientSecret: app.secret,
            idToken,
            authorization: { params: { scope: SCOPE } },
          },
        ],
        callbacks: {
          jwt({ token, account }) {
            if (account) Object.assign(token, { accessToken: account.access_token, scope: account.scope, providerSub: account.providerAccountId });
            return token;
          },
          session({ session: s, token }) {
            return { ...s, accessToken: token.accessToken, scope: token.scope, providerSub: token.providerSub };
          },
        },
      };
      rp.handle(async (req, res) => {
        const request = new Request(new URL(req.url!, rp.base), {
          method: req.method,
          headers: req.headers as Record<string, string>,
          ...(req.method === 'POST' ? { body: await readBody(req) } : {}),
        });
        const response = await Auth(request, config);
        const headers: Record<string, string | string[]> = {};
        response.headers.forEach((v, k) => {
          if (k !== 'set-cookie') headers[k] = v;
        });
        headers['set-cookie'] = response.headers.getSetCookie();
        res.writeHead(response.status, headers).end(Buffer.from(await response.arrayBuffer()));
      });

      const agent = ua();
      const { csrfToken } = (await (await agent.request(`${rp.base}/auth/csrf`)).json()) as { csrfToken: string };
      const done = `${rp.base}/signed-in`;
      await agent.journey(`${rp.base}/auth/signin/tessera`, {
        stopAt: done,
        init: { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrfToken, callbackUrl: done }).toString() },
      });
      const s = (await (await agent.request(`${rp.base}/auth/session`)).json()) as { user?: { name: string; email: string }; accessToken: string; scope: string; providerSub: string };
      expect(s.user).toMatchObject({ name: env.person.name, email: env.person.email });
      expect(s.providerSub).toBe(env.person.id);
      expect(scopesOf(s.scope).has(CAPABILITY)).toBe(true);
      expect(headerOf(s.accessToken).alg).toBe(alg);
    });
  });
});

/** Resolves once the wall clock has entered a later whole second than now (revocation times have one-second resolution). */
async function afterCurrentSecond(): Promise<void> {
  const second = Math.floor(Date.now() / 1000);
  while (Math.floor(Date.now() / 1000) <= second) await new Promise((r) => setTimeout(r, 50));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
