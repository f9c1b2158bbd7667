import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { adminApi, ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startRedis, waitFor, type TestRedis } from '../support/redisServer.ts';

let redis: TestRedis;
let t: TestTessera;
let owner: AdminApi;
let web: client.Configuration;

beforeAll(async () => {
  redis = await startRedis();
  t = await startTessera({ REDIS_URL: redis.url });
  owner = await ownerApi(t);
  const app = await owner.post('/applications', { name: 'Console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.body.id, app.body.client_secret);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await redis?.close();
});

describe('Redis loses the writes of a revoke-all (CHECKLIST faults 3)', () => {
  it('the revocation time in Postgres still refuses the old refresh token, session and access token', async () => {
    const password = 'rollback password 1';
    const user = await owner.post('/users', { email: 'rollback@example.test', password });
    await owner.put(`/users/${user.body.id}/roles/viewer`, {});
    const { tokens, browser } = await signIn(t.issuer, web, { email: 'rollback@example.test', password }, { scope: 'openid offline_access users:view' });

    // A snapshot holding the session, the grant and the refresh token; then revoke, then "fail over" to the snapshot.
    await redis.snapshot();
    expect((await owner.delete(`/users/${user.body.id}/sessions`)).status).toBe(200);
    await redis.rollback();
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 200, 15_000);
    const sessions = await redis.command('SCARD', t.server.core.keys.accountIndex(user.body.id));
    expect(Number(sessions)).toBeGreaterThan(0); // the rolled-back Redis has the session and grant again
    // The rolled-back mirror says "never revoked" (written at sign-in), stamped by the server before the failover.
    const runId = /run_id:(\w+)/.exec(String(await redis.command('INFO', 'server')))![1];
    const mirrored = String(await redis.command('GET', t.server.core.keys.revokedAt(t.tenantId, user.body.id)));
    expect(mirrored.split(' ')[1]).toBe('0');
    expect(mirrored.split(' ')[0]).not.toBe(runId);

    await expect(client.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const stale = await adminApi(t, tokens.access_token).get('/users');
    expect(stale.status).toBe(401);
    // The old browser session is not honoured either: the authorization request lands on the login page.
    const url = client.buildAuthorizationUrl(web, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const { res, url: at } = await browser.follow(url.toString(), t.issuer);
    expect(at.startsWith(REDIRECT_URI)).toBe(false);
    const page = await res.text();
    expect(page).toContain('name="password"');
    // The mirror was rebuilt from Postgres under the new server identity.
    const rebuilt = String(await redis.command('GET', t.server.core.keys.revokedAt(t.tenantId, user.body.id))).split(' ');
    expect(rebuilt[0]).toBe(runId);
    expect(Number(rebuilt[1])).toBeGreaterThan(0);
  }, 60_000);

  it('introspection does not report the resurrected opaque access token or refresh token as active', async () => {
    const password = 'rollback password 2';
    const user = await owner.post('/users', { email: 'rollback-opaque@example.test', password });
    // Only OIDC scopes: the access token is oidc-provider's opaque one, kept in Redis.
    const { tokens } = await signIn(t.issuer, web, { email: 'rollback-opaque@example.test', password }, { scope: 'openid offline_access' });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const introspect = async (token: string) => client.tokenIntrospection(web, token);
    expect((await introspect(tokens.access_token)).active).toBe(true);
    expect((await introspect(tokens.refresh_token!)).active).toBe(true);

    await redis.snapshot();
    expect((await owner.delete(`/users/${user.body.id}/sessions`)).status).toBe(200);
    await redis.rollback();
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 200, 15_000);
    // Both tokens are back in Redis...
    expect(Number(await redis.command('SCARD', t.server.core.keys.accountIndex(user.body.id)))).toBeGreaterThan(0);
    // ...and are still reported inactive, because they were issued before the revocation time in Postgres.
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect(await introspect(tokens.refresh_token!)).toEqual({ active: false });
    expect((await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
  }, 60_000);
});
