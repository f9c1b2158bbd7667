import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi, type ApiResponse } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

interface Event {
  id: string;
  tenant: string;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string } | null;
  data: Record<string, unknown>;
  parent_id: string | null;
  request_id: string | null;
  seq: number;
  hash: string;
  prev_hash: string;
}

let t: TestTessera;
let owner: AdminApi;
let appsOnly: AdminApi;
const created: string[] = [];
let otherTenant: string;

const list = async (query: string): Promise<Event[]> => {
  const res = await owner.get(`/audit-events?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as Event[];
};

/** Every page from the first, following next_cursor. */
async function walk(query: string): Promise<Event[]> {
  const all: Event[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResponse = await owner.get(`/audit-events?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    all.push(...(res.body.items as Event[]));
    cursor = res.body.next_cursor;
  } while (cursor);
  return all;
}

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const { services } = t.server.core;
  const s = await services.clients.create(ownerAccess(t.tenantId), { name: 'apps only', type: 'service' });
  const role = await services.roles.create(ownerAccess(t.tenantId), { name: 'Apps viewer', capabilities: ['applications:view'] });
  await services.roles.assign(ownerAccess(t.tenantId), role.slug, { type: 'client', id: s.client.id });
  appsOnly = adminApi(t, await serviceToken(t, s.client.id, s.secret!));
  for (let i = 0; i < 3; i++) created.push((await owner.post('/applications', { name: `audited-${i}`, type: 'service' })).body.id);
  await owner.post(`/applications/${created[0]}/disable`);
  await owner.put(`/applications/${created[1]}/roles/viewer`);
  otherTenant = (await bootstrapTenant(t.server.core, { tenant: `o-${randomBytes(4).toString('hex')}` }))!.tenant.id;
});
afterAll(() => t?.close());

describe('audit events', () => {
  it('lists the tenant’s events newest first with every field, chained by hash', async () => {
    const items = await list('limit=200');
    expect(items.length).toBeGreaterThan(10);
    expect(items[0]).toMatchObject({ action: 'role.assigned', actor: { type: 'client', id: t.admin.id }, target: { type: 'client', id: created[1] }, tenant: t.tenantId });
    expect(Object.keys(items[0]!).sort()).toEqual(['action', 'actor', 'at', 'data', 'hash', 'id', 'parent_id', 'prev_hash', 'request_id', 'seq', 'target', 'tenant']);
    expect(items[0]!.request_id).toEqual(expect.any(String));
    for (let i = 1; i < items.length; i++) {
      expect(items[i]!.seq).toBe(items[i - 1]!.seq - 1);
      expect(items[i - 1]!.prev_hash).toBe(items[i]!.hash);
    }
    expect(items.every((e) => e.tenant === t.tenantId)).toBe(true);
    expect(items.at(-1)).toMatchObject({ seq: 1, action: 'tenant.created', actor: { type: 'system', id: null } });
  });

  it('pages on seq without gaps or repeats', async () => {
    const all = await list('limit=200');
    const paged = await walk('limit=3');
    expect(paged.map((e) => e.seq)).toEqual(all.map((e) => e.seq));
    const filtered = await walk('limit=1&action=application.*');
    expect(filtered.map((e) => e.id)).toEqual(all.filter((e) => e.action.startsWith('application.')).map((e) => e.id));
  });

  it('filters by exact action, action prefix, actor and target', async () => {
    const exact = await list('action=application.created');
    expect(exact.length).toBeGreaterThanOrEqual(3);
    expect(exact.every((e) => e.action === 'application.created')).toBe(true);
    const prefix = await list('action=application.*');
    expect(new Set(prefix.map((e) => e.action))).toEqual(new Set(['application.created', 'application.disabled']));
    expect(await list('action=application')).toEqual([]);
    const roles = await list('action=role.*&actor_type=client');
    expect(roles.map((e) => [e.action, e.actor.id, e.target?.id])).toEqual([['role.assigned', t.admin.id, created[1]]]);
    const system = await list('actor_type=system');
    expect(system.length).toBeGreaterThan(0);
    expect(system.every((e) => e.actor.type === 'system')).toBe(true);
    const byActor = await list(`actor_id=${t.admin.id}`);
    // Disabling a client is a revocation too (SPEC §7): its sessions.revoked_all event targets the application.
    expect(byActor.map((e) => e.action).sort()).toEqual(['application.created', 'application.created', 'application.created', 'application.disabled', 'role.assigned', 'sessions.revoked_all'].sort());
    const byTarget = await list(`target_type=application&target_id=${created[0]}`);
    expect(byTarget.map((e) => e.action)).toEqual(['sessions.revoked_all', 'application.disabled', 'application.created']);
  });

  it('filters by time range', async () => {
    const all = await list('limit=200');
    const pivot = all.find((e) => e.action === 'application.disabled')!;
    const since = await list(`since=${encodeURIComponent(pivot.at)}&limit=200`);
    expect(since.length).toBeGreaterThan(0);
    expect(since.every((e) => e.at >= pivot.at)).toBe(true);
    expect(since.map((e) => e.id)).toContain(pivot.id);
    const until = await list(`until=${encodeURIComponent(pivot.at)}&limit=200`);
    expect(until.every((e) => e.at < pivot.at)).toBe(true);
    expect(until.length + since.length).toBe(all.length);
    expect(await list('until=2000-01-01')).toEqual([]);
    expect((await list('since=2000-01-01&limit=200')).length).toBe(all.length);
  });

  it('treats SQL in a filter value as data', async () => {
    const res = await owner.get(`/audit-events?action=${encodeURIComponent("x' or 1=1 --")}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], next_cursor: null });
    expect(await list(`target_id=${encodeURIComponent("' or ''='")}`)).toEqual([]);
    expect(await list(`actor_id=${encodeURIComponent('x%')}`)).toEqual([]);
    expect(await list(`action=${encodeURIComponent('%.*')}`)).toEqual([]);
    expect(await list(`action=${encodeURIComponent('_ole.*')}`)).toEqual([]);
  });

  it('rejects filters outside the allow-list and malformed values with 400', async () => {
    for (const q of ['tenant_id=x', 'data=x', 'actor_type=robot', 'since=yesterday', 'limit=0', 'limit=1000', 'cursor=nope', 'action=a&action=b']) {
      const res = await owner.get(`/audit-events?${q}`);
      expect(res.status, q).toBe(400);
    }
    const forged = Buffer.from(JSON.stringify(['1 or 1=1', 'x'])).toString('base64url');
    expect((await owner.get(`/audit-events?cursor=${forged}`)).body.code).toBe('invalid_cursor');
  });

  it('requires audit:read', async () => {
    const res = await appsOnly.get('/audit-events');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
  });

  it('never shows another tenant’s events', async () => {
    const mine = await list(`target_id=${otherTenant}`);
    expect(mine).toEqual([]);
    expect((await list('action=tenant.created')).map((e) => e.target?.id)).toEqual([t.tenantId]);
  });
});
