import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { adminApi, ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startRedis, type TestRedis } from '../support/redisServer.ts';
import { spawnServe } from '../support/process.ts';

let redis: TestRedis;
let a: TestTessera;
let b: Awaited<ReturnType<typeof spawnServe>>;
let bUrl: string;
let owner: AdminApi;
let appId: string;
let appSecret: string;

beforeAll(async () => {
  redis = await startRedis();
  a = await startTessera({ REDIS_URL: redis.url });
  // Process B: same Postgres, same Redis and prefix, same public issuer (as behind one load balancer).
  b = await spawnServe({ TESSERA_ISSUER: a.issuer, REDIS_URL: redis.url, TESSERA_REDIS_PREFIX: a.server.core.config.TESSERA_REDIS_PREFIX });
  bUrl = b.url;
  owner = await ownerApi(a);
  const app = await owner.post('/applications', { name: 'Console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  appId = app.body.id;
  appSecret = app.body.client_secret;
}, 90_000);
afterAll(async () => {
  await b?.stop();
  await a?.close();
  await redis?.close();
});

/** The same client, pointed at process A or B. */
const onProcess = async (base: string) => {
  const config = await discover(a.issuer, appId, appSecret);
  // Plain metadata (serverMetadata() also carries helper methods), with B's token endpoint.
  const meta = JSON.parse(JSON.stringify(config.serverMetadata())) as client.ServerMetadata;
  return new client.Configuration({ ...meta, token_endpoint: `${base}/token` }, appId, appSecret, client.ClientSecretBasic(appSecret));
};

describe('two HTTP processes on one Postgres and one Redis (CHECKLIST faults 7)', () => {
  it('a token issued by one refreshes on the other; revoke-all on one holds on the other at once', async () => {
    const password = 'two process password';
    const user = await owner.post('/users', { email: 'two@example.test', password });
    await owner.put(`/users/${user.body.id}/roles/viewer`, {});
    const web = await discover(a.issuer, appId, appSecret);
    const { tokens } = await signIn(a.issuer, web, { email: 'two@example.test', password }, { scope: 'openid offline_access users:view' });

    const onB = await onProcess(bUrl);
    client.allowInsecureRequests(onB);
    const refreshedOnB = await client.refreshTokenGrant(onB, tokens.refresh_token!);
    expect(refreshedOnB.access_token).toEqual(expect.any(String));
    // B's access token works at A's admin API and vice versa (one issuer, shared keys).
    expect((await adminApi(a, refreshedOnB.access_token).get('/users')).status).toBe(200);

    // Revoke on B (through B's admin API), then A refuses at once.
    const ownerOnB = { ...a, issuer: bUrl } as TestTessera;
    const bOwner = adminApi(ownerOnB, (await fetch(`${bUrl}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${a.admin.id}:${a.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.json()) as { access_token: string }).access_token);
    expect((await bOwner.delete(`/users/${user.body.id}/sessions`)).status).toBe(200);

    const onA = await onProcess(a.issuer);
    client.allowInsecureRequests(onA);
    await expect(client.refreshTokenGrant(onA, refreshedOnB.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await adminApi(a, refreshedOnB.access_token).get('/users')).status).toBe(401);
    expect((await adminApi(a, tokens.access_token).get('/users')).status).toBe(401);
    // And B agrees.
    expect((await adminApi(ownerOnB, refreshedOnB.access_token).get('/users')).status).toBe(401);
  }, 60_000);

  it('a role change made through one process shows in the next token from the other', async () => {
    const svc = await owner.post('/applications', { name: 'svc', type: 'service' });
    const cc = (base: string) =>
      fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${svc.body.id}:${svc.body.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }).then((r) => r.json() as Promise<{ scope?: string }>);
    expect((await cc(bUrl)).scope).toBeUndefined();
    await owner.put(`/applications/${svc.body.id}/roles/viewer`, {});
    expect((await cc(bUrl)).scope).toContain('users:view');
    await owner.delete(`/applications/${svc.body.id}/roles/viewer`);
    expect((await cc(bUrl)).scope).toBeUndefined();
  }, 30_000);
});
