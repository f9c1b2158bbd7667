import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { ownerAccess } from '../support/access.ts';
import { ownerApi, type AdminApi, type ApiResponse, limitedApi as limitApi } from '../support/api.ts';
import { auditEvents } from '../support/audit.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;
let ownerClient: string;

const limitedApi = (name: string, capabilities: string[]) => limitApi(t, name, capabilities);

const tag = () => randomBytes(4).toString('hex');

async function newUser(email: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await owner.post('/users', { email, ...extra });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** The one audit event of `action` on `target`, asserting it was made by `actor`. */
async function eventFor(action: string, target: string, actor = ownerClient) {
  const events = (await auditEvents(t, action)).filter((e) => e.target_id === target);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actor_type: 'client', actor_id: actor });
  return events[0]!;
}

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  ownerClient = t.admin.id;
});
afterAll(() => t?.close());

describe('users CRUD', () => {
  it('creates, reads, updates and deletes a user, auditing each change', async () => {
    const created = await owner.post('/users', { email: 'Grace@Example.test', display_name: 'Grace', password: 'long enough password' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), email: 'Grace@Example.test', display_name: 'Grace', status: 'active', created_at: expect.any(String), updated_at: expect.any(String) });
    const id = created.body.id as string;
    expect((await eventFor('user.created', id)).data).toEqual({ email: 'Grace@Example.test' });

    expect((await owner.get(`/users/${id}`)).body).toEqual(created.body);

    const patched = await owner.patch(`/users/${id}`, { display_name: 'Grace H.', email: 'grace.h@example.test' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ email: 'grace.h@example.test', display_name: 'Grace H.' });
    expect((await eventFor('user.updated', id)).data).toEqual({
      before: { email: 'Grace@Example.test', display_name: 'Grace' },
      after: { email: 'grace.h@example.test', display_name: 'Grace H.' },
    });

    const pw = await owner.post(`/users/${id}/password`, { password: 'another long password' });
    expect(pw.status).toBe(204);
    const reset = await eventFor('user.password_reset', id);
    expect(JSON.stringify(reset)).not.toContain('another long password');

    expect((await owner.delete(`/users/${id}`)).status).toBe(204);
    await eventFor('user.deleted', id);
    expect((await owner.get(`/users/${id}`)).status).toBe(404);
  });

  it('rejects short passwords, unknown body keys and empty patches', async () => {
    expect((await owner.post('/users', { email: `short-${tag()}@example.test`, password: 'too short' })).body.code).toBe('validation_failed');
    expect((await owner.post('/users', { email: `x-${tag()}@example.test`, admin: true })).status).toBe(400);
    const id = await newUser(`patch-${tag()}@example.test`);
    expect((await owner.patch(`/users/${id}`, {})).status).toBe(400);
    expect((await owner.post(`/users/${id}/password`, { password: 'short' })).status).toBe(400);
    expect((await owner.get('/users/not-a-uuid')).status).toBe(400);
  });

  it('emails are unique per tenant ignoring case: 409 email_taken', async () => {
    const t1 = tag();
    await newUser(`Dup-${t1}@Example.test`);
    const clash = await owner.post('/users', { email: `dup-${t1}@example.TEST` });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('email_taken');
    const other = await newUser(`other-${t1}@example.test`);
    const patch = await owner.patch(`/users/${other}`, { email: `DUP-${t1}@example.test` });
    expect(patch.status).toBe(409);
    expect(patch.body.code).toBe('email_taken');
  });
});

describe('listing users', () => {
  it('walks cursors with limit=3 without duplicates or gaps', async () => {
    const prefix = `page-${tag()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await newUser(`${prefix}-${i}@example.test`));
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const res: ApiResponse = await owner.get(`/users?limit=3&query=${prefix}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      sizes.push(res.body.items.length);
      seen.push(...res.body.items.map((u: { id: string }) => u.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(ids);
  });

  it('filters by query (case-insensitive, email or display name), status and role through nested groups', async () => {
    const k = tag();
    const { groups, roles } = t.server.core.services;
    const a = await newUser(`alpha-${k}@example.test`, { display_name: `Zed ${k}` });
    const b = await newUser(`beta-${k}@example.test`);
    const parent = await groups.createGroup(ownerAccess(t.tenantId), { name: `Parent ${k}` });
    const child = await groups.createGroup(ownerAccess(t.tenantId), { name: `Child ${k}` });
    await groups.addSubgroup(ownerAccess(t.tenantId), parent.id, child.id);
    await groups.addMember(ownerAccess(t.tenantId), child.id, b);
    const role = await roles.create(ownerAccess(t.tenantId), { name: `Filter ${k}`, capabilities: ['reports:view'] });
    await roles.assign(ownerAccess(t.tenantId), role.slug, { type: 'group', id: parent.id });
    expect((await owner.post(`/users/${a}/suspend`)).status).toBe(200);

    const ids = async (q: string) => ((await owner.get(`/users?${q}`)).body.items as { id: string }[]).map((u) => u.id);
    expect(await ids(`query=ALPHA-${k}`)).toEqual([a]);
    expect(await ids(`query=zed%20${k}`)).toEqual([a]);
    expect(await ids(`query=${k}&status=suspended`)).toEqual([a]);
    expect(await ids(`query=${k}&status=active`)).toEqual([b]);
    expect(await ids(`role=${role.slug}`)).toEqual([b]);
    expect(await ids(`group=${child.id}`)).toEqual([b]);
    expect(await ids(`query=${encodeURIComponent("%' or 1=1 --")}`)).toEqual([]);
  });

  it('rejects unknown filter keys and bad cursors with 400', async () => {
    const bad = await owner.get('/users?is_admin=true');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    expect((await owner.get('/users?status=deleted')).status).toBe(400);
    for (const cursor of ['nonsense', Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url')]) {
      const res = await owner.get(`/users?cursor=${cursor}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_cursor');
    }
  });
});

describe('tenancy', () => {
  it('a user of another tenant is 404 on every route and is left untouched', async () => {
    const other = await bootstrapTenant(t.server.core, { tenant: `other-${tag()}` });
    const foreign = other!.owner.id;
    const before = await rows(t.server.core.db, sql`select email, display_name, status, updated_at, password_hash from users where id = ${foreign}`);
    const calls = [
      owner.get(`/users/${foreign}`),
      owner.patch(`/users/${foreign}`, { display_name: 'hijacked' }),
      owner.post(`/users/${foreign}/suspend`),
      owner.post(`/users/${foreign}/unsuspend`),
      owner.post(`/users/${foreign}/password`, { password: 'hijacked password' }),
      owner.get(`/users/${foreign}/roles`),
      owner.get(`/users/${foreign}/capabilities?explain=true`),
      owner.put(`/users/${foreign}/roles/viewer`, {}),
      owner.delete(`/users/${foreign}/roles/owner`),
      owner.post(`/users/${foreign}/remove-access`),
      owner.delete(`/users/${foreign}`),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    const after = await rows(t.server.core.db, sql`select email, display_name, status, updated_at, password_hash from users where id = ${foreign}`);
    expect(after).toEqual(before);
    const roles = await rows(t.server.core.db, sql`select count(*)::int as n from user_roles where user_id = ${foreign}`);
    expect(roles[0]).toEqual({ n: 1 });
    const events = await rows(t.server.core.db, sql`select count(*)::int as n from audit_events where target_id = ${foreign} and action <> 'user.created' and action <> 'role.assigned'`);
    expect(events[0]).toEqual({ n: 0 });
    expect((await owner.get(`/users?query=${encodeURIComponent(other!.owner.email)}`)).body.items).toEqual([]);
  });
});

describe('suspension', () => {
  it('suspends with a revocation time, is idempotent, and unsuspends', async () => {
    const id = await newUser(`suspend-${tag()}@example.test`);
    const res = await owner.post(`/users/${id}/suspend`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('suspended');
    expect((await owner.get(`/users/${id}`)).body.status).toBe('suspended');
    await eventFor('user.suspended', id);
    expect(await t.server.core.revocations.revokedAt(t.tenantId, id)).toBeGreaterThan(0);

    const again = await owner.post(`/users/${id}/suspend`);
    expect(again.status).toBe(200);
    await eventFor('user.suspended', id); // still exactly one

    expect((await owner.post(`/users/${id}/unsuspend`)).body.status).toBe('active');
    await eventFor('user.unsuspended', id);
  });
});

describe('last Owner user', () => {
  it('deleting or suspending the only Owner user is 409 last_owner, and works once another Owner exists', async () => {
    for (const res of [await owner.delete(`/users/${t.owner.id}`), await owner.post(`/users/${t.owner.id}/suspend`), await owner.post(`/users/${t.owner.id}/remove-access`)]) {
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('last_owner');
    }
    expect((await owner.get(`/users/${t.owner.id}`)).body.status).toBe('active');

    const second = await newUser(`second-owner-${tag()}@example.test`);
    expect((await owner.put(`/users/${second}/roles/owner`, {})).status).toBe(200);
    expect((await owner.post(`/users/${t.owner.id}/suspend`)).body.status).toBe('suspended');
    // Now `second` is the only active Owner user.
    expect((await owner.delete(`/users/${second}`)).body.code).toBe('last_owner');
    expect((await owner.post(`/users/${t.owner.id}/unsuspend`)).status).toBe(200);
    expect((await owner.delete(`/users/${second}`)).status).toBe(204);
  });
});

describe('authorization', () => {
  it('403 insufficient_scope when the token lacks the capability', async () => {
    const { api } = await limitedApi(`Reader ${tag()}`, ['users:view']);
    const id = await newUser(`scoped-${tag()}@example.test`);
    expect((await api.get(`/users/${id}`)).status).toBe(200);
    for (const res of [await api.post('/users', { email: `nope-${tag()}@example.test` }), await api.delete(`/users/${id}`), await api.post(`/users/${id}/suspend`)]) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('insufficient_scope');
    }
  });

  it('403 escalation_denied when assigning a role stronger than the caller holds; a weaker one works and is audited', async () => {
    const { api, clientId } = await limitedApi(`Assigner ${tag()}`, ['users:view', 'members:change_roles']);
    const id = await newUser(`escalate-${tag()}@example.test`);
    const denied = await api.put(`/users/${id}/roles/administrator`, {});
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('escalation_denied');

    const weak = await t.server.core.services.roles.create(ownerAccess(t.tenantId), { name: `Weak ${tag()}`, capabilities: ['users:view'] });
    const ok = await api.put(`/users/${id}/roles/${weak.slug}`, {});
    expect(ok.status).toBe(200);
    expect(ok.body.changed.users).toEqual([id]);
    expect((await api.put(`/users/${id}/roles/${weak.slug}`, {})).body.unchanged.users).toEqual([id]);
    expect((await eventFor('role.assigned', id, clientId)).data).toMatchObject({ role: weak.slug });

    const removed = await api.delete(`/users/${id}/roles/${weak.slug}`);
    expect(removed.body.changed.users).toEqual([id]);
    expect((await eventFor('role.unassigned', id, clientId)).data).toMatchObject({ role: weak.slug });
  });

  it('remove-access needs every capability of each role removed', async () => {
    const { api } = await limitedApi(`Remover ${tag()}`, ['members:remove']);
    const id = await newUser(`remove-denied-${tag()}@example.test`);
    await owner.put(`/users/${id}/roles/viewer`, {});
    const res = await api.post(`/users/${id}/remove-access`);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('escalation_denied');
    expect((await owner.get(`/users/${id}/roles`)).body.direct).toHaveLength(1);
  });
});

describe('roles and capabilities of a user', () => {
  let userId: string;
  let exporter: string;
  let parent: { id: string; name: string };
  let child: { id: string; name: string };

  beforeAll(async () => {
    const k = tag();
    const { groups, roles } = t.server.core.services;
    userId = await newUser(`explain-${k}@example.test`);
    parent = await groups.createGroup(ownerAccess(t.tenantId), { name: `Auditors ${k}` });
    child = await groups.createGroup(ownerAccess(t.tenantId), { name: `Auditors EU ${k}` });
    await groups.addSubgroup(ownerAccess(t.tenantId), parent.id, child.id);
    await groups.addMember(ownerAccess(t.tenantId), child.id, userId);
    exporter = (await roles.create(ownerAccess(t.tenantId), { name: `Exporter ${k}`, capabilities: ['audit:export'] })).slug;
    await roles.assign(ownerAccess(t.tenantId), exporter, { type: 'group', id: parent.id });
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    expect((await owner.put(`/users/${userId}/roles/viewer`, { expires_at: expiresAt })).status).toBe(200);
  });

  it('GET /users/:id/roles separates direct roles from roles through nested groups', async () => {
    const res = await owner.get(`/users/${userId}/roles`);
    expect(res.status).toBe(200);
    expect(res.body.direct).toEqual([{ slug: 'viewer', name: expect.any(String), type: 'system', assigned_at: expect.any(String), expires_at: expect.any(String) }]);
    expect(res.body.via_groups).toEqual([
      { slug: exporter, name: expect.any(String), type: 'custom', group_path: [parent, child].map((g) => ({ id: g.id, name: g.name })), path_count: 1, expires_at: null },
    ]);
    expect(res.body.capabilities).toEqual(['applications:view', 'audit:export', 'audit:read', 'authentication:view', 'branding:view', 'mfa:view', 'reports:view', 'users:view']);
  });

  it('explain lists direct, group and dependency paths', async () => {
    const plain = await owner.get(`/users/${userId}/capabilities`);
    expect(plain.body.capabilities).toContain('audit:export');
    const res = await owner.get(`/users/${userId}/capabilities?explain=true`);
    expect(res.status).toBe(200);
    const byId = new Map((res.body.capabilities as { id: string; paths: unknown[] }[]).map((c) => [c.id, c.paths]));
    const groupPath = { type: 'group', groups: [child, parent].map((g) => ({ id: g.id, name: g.name })), role: exporter, chains: 1 };
    expect(byId.get('audit:export')).toEqual([groupPath]);
    expect(byId.get('audit:read')).toEqual(expect.arrayContaining([{ type: 'direct', role: 'viewer' }, groupPath, { type: 'dependency', of: 'audit:export' }]));
    expect(byId.get('users:view')).toEqual([{ type: 'direct', role: 'viewer' }]);
    expect((await owner.get(`/users/${userId}/capabilities?explain=maybe`)).status).toBe(400);
  });

  it('remove-access takes every direct role and membership away, audited with the lists', async () => {
    const res = await owner.post(`/users/${userId}/remove-access`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ roles_removed: ['viewer'], groups_removed: [child.id] });
    const event = await eventFor('user.access_removed', userId);
    expect(event.data.groups).toEqual([child.id]);
    expect(event.data.roles.map((r: { slug: string }) => r.slug)).toEqual(['viewer']);
    expect((await owner.get(`/users/${userId}/roles`)).body).toEqual({ direct: [], via_groups: [], capabilities: [] });
  });
});
