import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { startSentinelSet, SENTINEL_NAME } from '../support/sentinel.ts';
import { waitFor } from '../support/redisServer.ts';
import { ownerApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';

let set: Awaited<ReturnType<typeof startSentinelSet>>;
let t: TestTessera;
let web: client.Configuration;
const alice = { email: 'alice@sentinel.test', password: 'alice sentinel password' };
const bob = { email: 'bob@sentinel.test', password: 'bob sentinel password' };
let bobId: string;

beforeAll(async () => {
  set = await startSentinelSet();
  // REDIS_URL's host is deliberately wrong: with Sentinel only its credentials and database count.
  t = await startTessera({ REDIS_URL: 'redis://127.0.0.1:1/0', REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: SENTINEL_NAME });
  const { services } = t.server.core;
  const app = await services.clients.create(ownerAccess(t.tenantId), { name: 'Sentinel app', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.client.id, app.secret!);
  await services.users.create(ownerAccess(t.tenantId), alice);
  bobId = (await services.users.create(ownerAccess(t.tenantId), bob)).id;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await set?.close();
});

const prefixKeys = async (node: { command(...args: string[]): Promise<unknown> }) =>
  ((await node.command('KEYS', `${t.server.core.config.TESSERA_REDIS_PREFIX}*`)) as string[]).length;

describe('Redis behind Sentinel (REDIS_SENTINELS)', () => {
  it('follows a failover: sessions, refresh tokens and revocations survive, and new writes go to the new primary', async () => {
    // Before: Alice holds a refresh token; Bob signed in and was then forced to re-authenticate.
    const a1 = await signIn(t.issuer, web, alice, { scope: 'openid offline_access' });
    const b1 = await signIn(t.issuer, web, bob, { scope: 'openid offline_access' });
    const owner = await ownerApi(t);
    expect((await owner.delete(`/users/${bobId}/sessions`)).status).toBeLessThan(300);
    expect(await prefixKeys(set.primary)).toBeGreaterThan(0);
    await set.sync();

    await set.failover();
    expect(await set.primaryPort()).toBe(set.replica.port);

    // Tessera reconnects to the new primary by itself; requests may fail closed (503) for a moment, never wrongly.
    const statuses: number[] = [];
    await waitFor(async () => {
      const res = await fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      statuses.push(res.status);
      return res.status === 200;
    }, 20_000, 200);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);

    // Alice's refresh token was replicated before the failover, so it still works; Bob's revocation still holds.
    const refreshed = await client.refreshTokenGrant(web, a1.tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    await expect(client.refreshTokenGrant(web, b1.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // New state is written to the new primary (the old one is a read-only replica now).
    const before = await prefixKeys(set.replica);
    await signIn(t.issuer, web, alice, { scope: 'openid offline_access' });
    expect(await prefixKeys(set.replica)).toBeGreaterThan(before);
    expect((await fetch(`${t.issuer}/readyz`)).status).toBe(200);
  }, 90_000);
});
