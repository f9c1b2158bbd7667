import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, limitedApi, serviceToken, type AdminApi } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { followFeed } from '../support/feed.ts';

let t: TestTessera;
let owner: AdminApi;
let ownerToken: string;
const open: (() => void)[] = [];

/** Opens the feed for this test's server; closed after each test. */
async function follow(token: string, opts: { headers?: Record<string, string>; query?: string } = {}) {
  const feed = await followFeed(t.issuer, token, opts);
  open.push(feed.close);
  return feed;
}

async function newUser(api: AdminApi = owner): Promise<string> {
  const res = await api.post('/users', { email: `f-${randomBytes(4).toString('hex')}@example.test`, password: 'a long enough password' });
  expect(res.status).toBe(201);
  return res.body.id;
}

beforeAll(async () => {
  t = await startTessera();
  ownerToken = await serviceToken(t, t.admin.id, t.admin.secret);
  owner = adminApi(t, ownerToken);
});
afterEach(() => {
  for (const close of open.splice(0)) close();
});
afterAll(() => t?.close());

describe('GET /api/v1/revocations/stream', () => {
  it('delivers a revoke-all done through the API within a second', async () => {
    const feed = await follow(ownerToken);
    expect(feed.res.status).toBe(200);
    expect(feed.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const userId = await newUser();
    const started = Date.now();
    const revoked = await owner.delete(`/users/${userId}/sessions`);
    expect(revoked.status).toBe(200);
    const event = await feed.nth(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(event.event).toBe('revocation');
    expect(event.id).toMatch(/^\d+-\d+$/);
    expect(event.data).toEqual({ sub: userId, tid: t.tenantId, revoked_at: Math.floor(Date.parse(revoked.body.revoked_at) / 1000) });
  });

  it('a reconnect with Last-Event-ID (or ?since) replays only later events, then continues live', async () => {
    const feed = await follow(ownerToken);
    const [a, b, c] = [await newUser(), await newUser(), await newUser()];
    await owner.delete(`/users/${a}/sessions`);
    const first = await feed.nth(1);
    await owner.delete(`/users/${b}/sessions`);
    await owner.delete(`/users/${c}/sessions`);
    await feed.nth(3);
    feed.close();

    const resumed = await follow(ownerToken, { headers: { 'last-event-id': first.id } });
    expect((await resumed.nth(2)).data.sub).toBe(c);
    expect(resumed.events.map((e) => e.data.sub)).toEqual([b, c]);
    const since = await follow(ownerToken, { query: `?since=${first.id}` });
    expect((await since.nth(2)).data.sub).toBe(c);
    expect(since.events.map((e) => e.data.sub)).toEqual([b, c]);

    const d = await newUser();
    await owner.delete(`/users/${d}/sessions`);
    expect((await resumed.nth(3)).data.sub).toBe(d);
    expect(resumed.events).toHaveLength(3);
  });

  it("does not deliver another tenant's revocations", async () => {
    const boot = (await bootstrapTenant(t.server.core, { tenant: `x-${randomBytes(4).toString('hex')}` }))!;
    const foreignToken = await serviceToken(t, boot.client.id, boot.client.secret);
    const foreignApi = adminApi(t, foreignToken);
    const ours = await follow(ownerToken);
    const theirs = await follow(foreignToken);
    const theirUser = await newUser(foreignApi);
    expect((await foreignApi.delete(`/users/${theirUser}/sessions`)).status).toBe(200);
    expect((await theirs.nth(1)).data).toMatchObject({ sub: theirUser, tid: boot.tenant.id });
    const ourUser = await newUser();
    await owner.delete(`/users/${ourUser}/sessions`);
    expect((await ours.nth(1)).data.sub).toBe(ourUser);
    await new Promise((r) => setTimeout(r, 200));
    expect(ours.events.map((e) => e.data.sub)).toEqual([ourUser]);
    expect(theirs.events.map((e) => e.data.sub)).toEqual([theirUser]);
  });

  it('uses one Redis subscriber per process however many clients follow', async () => {
    await follow(ownerToken);
    await follow(ownerToken);
    const [, count] = (await t.server.core.redis.pubsub('NUMSUB', t.server.core.keys.revocationChannel())) as [string, number];
    expect(Number(count)).toBe(1);
  });

  it('refuses a caller without a token (401) or without users:view (403), and a malformed Last-Event-ID (400)', async () => {
    const anonymous = await fetch(`${t.issuer}/api/v1/revocations/stream`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    const { api } = await limitedApi(t, 'No viewer', ['reports:view']);
    const forbidden = await api.get('/revocations/stream');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('insufficient_scope');
    const bad = await follow(ownerToken, { headers: { 'last-event-id': 'nope' } });
    expect(bad.res.status).toBe(400);
    await bad.res.body?.cancel();
  });

  it('is documented in the OpenAPI document as text/event-stream', async () => {
    const doc = (await (await fetch(`${t.issuer}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>> };
    const op = doc.paths['/revocations/stream']!.get!;
    expect(Object.keys(op.responses['200']!.content!)).toEqual(['text/event-stream']);
  });
});
