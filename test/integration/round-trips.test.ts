import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/**
 * Redis round trips per token request (issue 14): each one costs the token
 * endpoint system calls and a wait, and the plain oidc-provider the benches
 * compare against makes none for entitlements. Counted as writes on the
 * process's Redis connection (ioredis sends each auto-pipelined batch in one
 * write); the minimum of a few requests, so a background poll that happens to
 * share the connection during one of them can't be counted against it.
 */
let t: TestTessera;
let writes = 0;
let token: string;
let web: { id: string; client_secret: string };
const user = { email: `rt-${Date.now()}@example.test`, password: 'a long enough password 42' };

beforeAll(async () => {
  t = await startTessera();
  const stream = (t.server.core.redis as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
  const write = stream.write.bind(stream);
  stream.write = (...args: unknown[]) => {
    writes++;
    return write(...args);
  };
  const admin = await discover(t.issuer, t.admin.id, t.admin.secret);
  token = (await client.clientCredentialsGrant(admin, {})).access_token;
  const api = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${t.issuer}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBeLessThan(300);
    return (await res.json().catch(() => ({}))) as Record<string, string>;
  };
  web = (await api('POST', '/applications', { name: 'Round trips', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] })) as typeof web;
  const row = await api('POST', '/users', { ...user, display_name: 'Round trips' });
  await api('PUT', `/users/${row.id}/roles/viewer`, {});
});
afterAll(() => t?.close());

/** The fewest Redis writes `request` made over `times` calls. */
async function fewestWrites(times: number, request: () => Promise<unknown>): Promise<number> {
  let fewest = Infinity;
  for (let i = 0; i < times; i++) {
    writes = 0;
    await request();
    fewest = Math.min(fewest, writes);
  }
  return fewest;
}

describe('Redis round trips per token request', () => {
  it('client credentials: one (the tenant and client versions together), with the entitlement from the cache', async () => {
    const admin = await discover(t.issuer, t.admin.id, t.admin.secret);
    const issued: string[] = [];
    const fewest = await fewestWrites(4, async () => issued.push((await client.clientCredentialsGrant(admin, { scope: 'users:view', resource: `${t.issuer}/api` })).access_token));
    expect(issued).toHaveLength(4);
    expect(fewest).toBe(1);
  });

  it("refresh with rotation: five, the refresh token read with the client's versions, the user's version with the consume, the session by uid in one", async () => {
    const config = await discover(t.issuer, web.id, web.client_secret);
    let refresh = (await signIn(t.issuer, config, user, { scope: 'openid offline_access users:view' })).tokens.refresh_token!;
    const scopes: string[] = [];
    const fewest = await fewestWrites(4, async () => {
      const tokens = await client.refreshTokenGrant(config, refresh);
      refresh = tokens.refresh_token!;
      scopes.push(tokens.scope ?? '');
    });
    expect(scopes.every((s) => s.split(' ').includes('users:view'))).toBe(true);
    // Versions (tenant + client) with the refresh token, the session by uid, the grant, the consume with the
    // user's version, the rotated token's save. The refresh token, the user's version and the session's
    // pointer each used to take a round trip of their own (eight in all).
    expect(fewest).toBe(5);
  });
});
