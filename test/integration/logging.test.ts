import { sql } from 'drizzle-orm';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { spawnServe } from '../support/process.ts';
import { adminApi, serviceToken } from '../support/api.ts';
import { Browser, parseForm } from '../support/browser.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';

/**
 * Everything a Tessera process writes (stdout and stderr, at LOG_LEVEL=trace)
 * while it handles passwords, client secrets, codes, tokens and cookies in
 * every flow, successful and failed, must contain none of them.
 */
let a: TestTessera;
let proc: Awaited<ReturnType<typeof spawnServe>>;
let b: TestTessera;
const secrets = new Map<string, string>();
const remember = (what: string, value: string | undefined) => {
  if (value) secrets.set(value, what);
};
/**
 * Cookie values that are secrets. The interaction cookies hold the interaction
 * id, which is also in the sign-in page's URL (and so in access logs); their
 * signatures (`.sig`) and the session cookie are what an attacker would need.
 */
const rememberCookies = (cookies: Map<string, string>) => {
  for (const [name, value] of cookies) if (!/^_interaction(_resume)?$/.test(name)) remember(`cookie ${name}`, value);
};

beforeAll(async () => {
  a = await startTessera();
  // The process under test serves the tenant `a` bootstrapped; it prints no bootstrap banner (not a first start).
  // Every access-log line, not the default 1% of successes: this test reads them all.
  proc = await spawnServe({ LOG_LEVEL: 'trace', TESSERA_ACCESS_LOG_SAMPLE: '1' });
  b = { ...a, issuer: proc.url };
  remember('admin client secret', a.admin.secret);
  remember('owner password', a.owner.password);
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  await a?.close();
});

async function form(url: string, body: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });
}
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

/** Polls the process output (logs are flushed in batches every 200 ms); the deadline only stops a hung test. */
async function until(ready: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error('the expected log lines never arrived');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('logs', () => {
  it('never contain passwords, client secrets, codes, tokens or cookies, in any flow', async () => {
    const { services } = a.server.core;
    const user = { email: 'logged@example.test', password: `user-password-${Date.now()}` };
    remember('user password', user.password);
    const userId = (await services.users.create(ownerAccess(a.tenantId), user)).id;

    // Admin API: a new application's secret, a rotated secret, a password set through the API.
    const api = adminApi(b, await serviceToken(b, a.admin.id, a.admin.secret));
    remember('admin access token', api.token);
    const app = await api.post('/applications', { name: 'Logged app', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    expect(app.status).toBe(201);
    const appId = app.body.id as string;
    remember('application secret', app.body.client_secret);
    const rotated = await api.post(`/applications/${appId}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const appSecret = rotated.body.client_secret as string;
    remember('rotated application secret', appSecret);
    const apiPassword = `api-password-${Date.now()}`;
    remember('api user password', apiPassword);
    const apiUser = await api.post('/users', { email: 'api-user@example.test', password: apiPassword });
    expect(apiUser.status).toBe(201);
    const newPassword = `reset-password-${Date.now()}`;
    remember('reset password', newPassword);
    expect((await api.post(`/users/${apiUser.body.id}/password`, { password: newPassword })).status).toBeLessThan(300);

    // A failed sign-in, with the wrong password.
    const wrongPassword = `wrong-password-${Date.now()}`;
    remember('wrong password', wrongPassword);
    const cfg = await discover(b.issuer, appId, appSecret);
    {
      const browser = new Browser();
      const url = client.buildAuthorizationUrl(cfg, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const { res } = await browser.follow(url.toString(), b.issuer);
      const f = parseForm(await res.text());
      remember('CSRF token', f.fields.csrf);
      const failed = await browser.post(new URL(f.action, b.issuer).toString(), { ...f.fields, email: user.email, password: wrongPassword });
      expect(await failed.text()).toContain('incorrect');
      rememberCookies(browser.cookies);
    }

    // A successful sign-in with code + PKCE, then refresh, userinfo, introspection and revocation.
    const { tokens, browser } = await signIn(b.issuer, cfg, user, { scope: 'openid offline_access users:view' });
    rememberCookies(browser.cookies);
    remember('access token', tokens.access_token);
    remember('refresh token', tokens.refresh_token);
    remember('ID token', tokens.id_token);
    const refreshed = await client.refreshTokenGrant(cfg, tokens.refresh_token!);
    remember('refreshed access token', refreshed.access_token);
    remember('refreshed refresh token', refreshed.refresh_token);
    // Without a capability scope the access token is an opaque one for userinfo (same session: no password asked).
    const plain = await signIn(b.issuer, cfg, user, { scope: 'openid', browser });
    remember('userinfo access token', plain.tokens.access_token);
    remember('second ID token', plain.tokens.id_token);
    expect((await fetch(`${b.issuer}/me`, { headers: { authorization: `Bearer ${plain.tokens.access_token}` } })).status).toBe(200);
    expect((await form(`${b.issuer}/token/introspection`, { token: refreshed.access_token }, basic(appId, appSecret))).status).toBe(200);
    // Reusing (which also revokes the grant) the spent refresh token is an error path that logs.
    const reuse = await form(`${b.issuer}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, basic(appId, appSecret));
    expect(reuse.status).toBe(400);
    expect((await form(`${b.issuer}/token/revocation`, { token: refreshed.refresh_token! }, basic(appId, appSecret))).status).toBe(200);

    // Client credentials with the secret in the body, a wrong secret, and garbage tokens on every endpoint.
    const post = await form(`${b.issuer}/token`, { grant_type: 'client_credentials', client_id: a.admin.id, client_secret: a.admin.secret });
    expect([200, 400, 401]).toContain(post.status);
    const wrongSecret = `wrong-secret-${Date.now()}-abcdefghijklmnopqrstuvwxyz`;
    remember('wrong client secret', wrongSecret);
    expect((await form(`${b.issuer}/token`, { grant_type: 'client_credentials' }, basic(a.admin.id, wrongSecret))).status).toBe(401);
    const bogus = `bogus-token-${Date.now()}-ABCDEFGHIJKLMNOP`;
    remember('bogus bearer token', bogus);
    expect((await fetch(`${b.issuer}/api/v1/roles`, { headers: { authorization: `Bearer ${bogus}` } })).status).toBe(401);
    expect((await fetch(`${b.issuer}/me`, { headers: { authorization: `Bearer ${bogus}` } })).status).toBe(401);
    // Secrets in a query string, where a careless access log would keep them.
    const inQuery = await fetch(`${b.issuer}/api/v1/roles?access_token=${bogus}&client_secret=${wrongSecret}&password=${wrongPassword}`);
    expect(inQuery.status).toBe(401);

    // Force re-authentication, which logs the revocation.
    expect((await api.delete(`/users/${userId}/sessions`)).status).toBeLessThan(300);

    // Logs are written in batches: wait for the revocation's own line, the last thing this flow logs.
    await until(() => proc.output().includes('"msg":"request"') && proc.output().split('\n').filter((l) => l.includes(userId)).length > 0);
    const output = proc.output();
    const lines = output.split('\n').filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(20);
    const leaks = [...secrets].filter(([value]) => value.length >= 8 && output.includes(value)).map(([, what]) => what);
    expect(leaks).toEqual([]);
    // Not even the raw Authorization header's base64.
    expect(output).not.toContain(Buffer.from(`${appId}:${appSecret}`).toString('base64'));
  }, 90_000);

  it('are JSON lines, and each one written while serving a request carries its request id', async () => {
    const requestId = `req-${Date.now()}`;
    const res = await fetch(`${b.issuer}/api/v1/roles`, { headers: { 'x-request-id': requestId, authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    const tokenRequestId = `tok-${Date.now()}`;
    const tok = await form(`${b.issuer}/token`, { grant_type: 'client_credentials' }, { ...basic(a.admin.id, a.admin.secret), 'x-request-id': tokenRequestId });
    expect(tok.status).toBe(200);
    await until(() => proc.output().includes(tokenRequestId) && proc.output().includes(requestId));
    const json = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; requestId?: string; path?: string; status?: number });
    expect(json.find((l) => l.requestId === requestId && l.msg === 'request')).toMatchObject({ path: '/api/v1/roles', status: 401 });
    expect(json.find((l) => l.requestId === tokenRequestId && l.msg === 'request')).toMatchObject({ path: '/token', status: 200 });
    // Lines other than the access log, written during a request, carry the id too.
    const refusedId = `bad-${Date.now()}`;
    const refused = await form(`${b.issuer}/token`, { grant_type: 'client_credentials' }, { ...basic(a.admin.id, 'not-the-secret-at-all'), 'x-request-id': refusedId });
    expect(refused.status).toBe(401);
    await until(() => proc.output().split('\n').filter((l) => l.includes(refusedId)).length >= 2);
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.includes(refusedId))
      .map((l) => JSON.parse(l) as { msg?: string });
    expect(lines.map((l) => l.msg).sort()).toEqual(['request', 'token request refused']);
  });

  it('a database error in a statement that binds a password hash logs neither the hash nor the password (CHECKLIST 38)', async () => {
    const { services, db } = a.server.core;
    const userId = (await services.users.create(ownerAccess(a.tenantId), { email: `refused-${Date.now()}@example.test` })).id;
    const trigger = `tessera_test_refuse_${userId.replaceAll('-', '')}`;
    // A real failure inside the UPDATE that carries the new Argon2 hash, for this one user only.
    await db.execute(sql.raw(`create or replace function tessera_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused by a test trigger'; end $$`));
    await db.execute(sql.raw(`create trigger ${trigger} before update on users for each row when (new.id = '${userId}') execute function tessera_test_refuse()`));
    try {
      const api = adminApi(b, await serviceToken(b, a.admin.id, a.admin.secret));
      const password = `never-logged-${Date.now()}`;
      const requestId = `hash-${Date.now()}`;
      const res = await api.call('POST', `/users/${userId}/password`, { password }, { 'x-request-id': requestId });
      expect(res.status).toBe(500);
      expect(JSON.stringify(res.body)).not.toMatch(/argon2|refused by a test trigger|users/);
      await new Promise((r) => setTimeout(r, 300));
      const lines = proc.output().split('\n').filter((l) => l.includes(requestId));
      // The error itself was logged, with its SQLSTATE, so operators still see what failed.
      expect(lines.some((l) => l.includes('P0001'))).toBe(true);
      expect(lines.join('\n')).not.toContain('$argon2id$');
      expect(proc.output()).not.toContain(password);
    } finally {
      await db.execute(sql.raw(`drop trigger if exists ${trigger} on users`));
    }
  });
});

describe('access-log sampling (TESSERA_ACCESS_LOG_SAMPLE)', () => {
  it('writes no line for sampled-out successes, and always one for an error', async () => {
    const quiet = await spawnServe({ LOG_LEVEL: 'info', TESSERA_ACCESS_LOG_SAMPLE: '0' });
    try {
      const ok: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = `ok-${i}-${Date.now()}`;
        ok.push(id);
        const res = await form(`${quiet.url}/token`, { grant_type: 'client_credentials' }, { ...basic(a.admin.id, a.admin.secret), 'x-request-id': id });
        expect(res.status).toBe(200);
      }
      const badId = `bad-${Date.now()}`;
      expect((await form(`${quiet.url}/token`, { grant_type: 'client_credentials' }, { ...basic(a.admin.id, 'wrong-secret-wrong-secret'), 'x-request-id': badId })).status).toBe(401);
      // Lines are written in order: once the error's line is out, any earlier line would be too.
      await until(() => quiet.output().split('\n').some((l) => l.includes(badId) && l.includes('"msg":"request"')));
      expect(ok.filter((id) => quiet.output().includes(id))).toEqual([]);
    } finally {
      await quiet.stop();
    }
  }, 60_000);
});
