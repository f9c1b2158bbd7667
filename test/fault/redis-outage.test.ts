import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { Browser } from '../support/browser.ts';
import { startRedis, waitFor, type TestRedis } from '../support/redisServer.ts';

let redis: TestRedis;
let t: TestTessera;
let web: client.Configuration;
let admin: client.Configuration;

beforeAll(async () => {
  redis = await startRedis();
  t = await startTessera({ REDIS_URL: redis.url });
  const { services } = t.server.core;
  const app = await services.clients.create(ownerAccess(t.tenantId), { name: 'Console', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.client.id, app.secret!);
  admin = await discover(t.issuer, t.admin.id, t.admin.secret);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await redis?.close();
});

const form = (body: Record<string, string>, id: string, secret: string) =>
  fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });

describe('Redis stopped under load (CHECKLIST faults 2)', () => {
  it('answers 503 temporarily_unavailable, never invalid_grant or a token, and recovers without a restart', async () => {
    const user = { email: 'outage@example.test', password: 'outage password 12' };
    await t.server.core.services.users.create(ownerAccess(t.tenantId), user);
    const { tokens } = await signIn(t.issuer, web, user, { scope: 'openid offline_access' });
    const webClient = web.clientMetadata();

    // Load: client credentials and refreshes with a token that must survive the outage.
    const statuses: { status: number; error?: string }[] = [];
    let loading = true;
    const calls: [Record<string, string>, string, string][] = [
      [{ grant_type: 'client_credentials' }, t.admin.id, t.admin.secret],
      [{ grant_type: 'refresh_token', refresh_token: 'not-a-real-token' }, webClient.client_id, webClient.client_secret as string],
    ];
    const loop = (async () => {
      while (loading) {
        for (const [body, id, secret] of calls) {
          const res = await form(body, id, secret).catch(() => undefined);
          if (res) statuses.push({ status: res.status, error: ((await res.json()) as { error?: string }).error });
        }
      }
    })();

    // A sign-in page opened before the outage.
    const browser = new Browser();
    const authUrl = client.buildAuthorizationUrl(web, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const { url: loginPage } = await browser.follow(authUrl.toString(), t.issuer);
    expect(loginPage).toContain('/interaction/');

    await redis.stop(true);
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 503, 5_000);
    // Reloading it answers 503 problem+json (fail closed), not a 500.
    const reload = await browser.request(loginPage);
    expect(reload.status).toBe(503);
    expect(await reload.json()).toMatchObject({ code: 'temporarily_unavailable' });
    const during = await form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, webClient.client_id, webClient.client_secret as string);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const cc = await form({ grant_type: 'client_credentials' }, t.admin.id, t.admin.secret);
    expect(cc.status).toBe(503);
    expect((await fetch(`${t.issuer}/auth?client_id=${webClient.client_id}`, { redirect: 'manual' })).status).toBe(503);
    // What needs neither Redis nor Postgres keeps working.
    expect((await fetch(`${t.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${t.issuer}/jwks`)).status).toBe(200);
    const readyz = (await (await fetch(`${t.issuer}/readyz`)).json()) as { checks: Record<string, string> };
    expect(readyz.checks.redis).toBe('unavailable');
    // Fail-closed answers are visible to monitoring (metrics need neither Redis nor Postgres).
    const metrics = await (await fetch(`${t.issuer}/metrics`)).text();
    expect(Number(/^tessera_http_responses_total\{surface="oidc",code="5xx"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);

    await redis.start();
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 200, 15_000);
    loading = false;
    await loop;

    // The refresh token survived: the outage consumed nothing.
    const after = await client.refreshTokenGrant(web, tokens.refresh_token!);
    expect(after.access_token).toEqual(expect.any(String));
    expect((await client.clientCredentialsGrant(admin)).access_token).toEqual(expect.any(String));

    // Under load, every answer was a success, 503, or the correct invalid_grant for the fake token; no 500.
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.some((s) => s.status === 503)).toBe(true);
    for (const s of statuses) {
      expect([200, 400, 503]).toContain(s.status);
      if (s.status === 400) expect(s.error).toBe('invalid_grant');
      if (s.status === 503) expect(s.error).toBe('temporarily_unavailable');
    }
  }, 60_000);
});
