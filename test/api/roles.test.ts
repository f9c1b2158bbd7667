import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi, limitedApi as limitApi } from '../support/api.ts';
import { auditEvents } from '../support/audit.ts';

let t: TestTessera;
let owner: AdminApi;
let userId: string;

const limitedApi = (name: string, capabilities: string[]) => limitApi(t, name, capabilities);

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  userId = (await t.server.core.services.users.create(ownerAccess(t.tenantId), { email: 'role-target@example.test' })).id;
});
afterAll(() => t?.close());

describe('role names, descriptions and capabilities (SPEC §4)', () => {
  it('"Auditor" and "auditor" clash, and so do system role names', async () => {
    expect((await owner.post('/roles', { name: 'Auditor', capabilities: ['audit:read'] })).status).toBe(201);
    const clash = await owner.post('/roles', { name: 'auditor', capabilities: ['audit:read'] });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('role_name_taken');
    expect(clash.headers.get('content-type')).toContain('application/problem+json');
    expect((await owner.post('/roles', { name: 'VIEWER', capabilities: ['audit:read'] })).body.code).toBe('role_name_taken');
  });

  it('names are 1-50 characters after trimming', async () => {
    expect((await owner.post('/roles', { name: 'x'.repeat(51), capabilities: ['audit:read'] })).body.code).toBe('invalid_name');
    expect((await owner.post('/roles', { name: '   ', capabilities: ['audit:read'] })).body.code).toBe('invalid_name');
    const ok = await owner.post('/roles', { name: `  ${'y'.repeat(50)}  `, capabilities: ['audit:read'] });
    expect(ok.status).toBe(201);
    expect(ok.body.name).toBe('y'.repeat(50));
  });

  it('descriptions are at most 200 characters', async () => {
    const long = await owner.post('/roles', { name: 'Long description', description: 'd'.repeat(201), capabilities: ['audit:read'] });
    expect(long.status).toBe(422);
    expect(long.body.code).toBe('invalid_description');
    expect((await owner.post('/roles', { name: 'Fine description', description: 'd'.repeat(200), capabilities: ['audit:read'] })).status).toBe(201);
  });

  it('needs at least one capability, known and not reserved', async () => {
    expect((await owner.post('/roles', { name: 'Empty', capabilities: [] })).body.code).toBe('capabilities_required');
    const unknown = await owner.post('/roles', { name: 'Unknown', capabilities: ['users:view', 'users:teleport'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body).toMatchObject({ code: 'unknown_capability', capabilities: ['users:teleport'] });
    const reserved = await owner.post('/roles', { name: 'Reserved', capabilities: ['tenant:transfer_ownership'] });
    expect(reserved.status).toBe(422);
    expect(reserved.body.code).toBe('capability_reserved');
  });

  it('adds missing dependencies, sorted, and a read cannot be removed while a dependant stays', async () => {
    const created = await owner.post('/roles', { name: 'Exporter', capabilities: ['audit:export', 'users:gdpr_delete'] });
    expect(created.body.capabilities).toEqual(['audit:export', 'audit:read', 'users:delete', 'users:gdpr_delete', 'users:view']);
    expect(created.body.capability_count).toBe(5);
    const edited = await owner.patch(`/roles/${created.body.slug}`, { capabilities: ['audit:export'] });
    expect(edited.body.capabilities).toEqual(['audit:export', 'audit:read']);
  });
});

describe('slugs', () => {
  it('are generated from the name and never change on rename; assignments stay attached', async () => {
    const created = await owner.post('/roles', { name: 'Support Lead', capabilities: ['users:view'] });
    expect(created.body.slug).toBe('support-lead');
    await owner.post('/roles/support-lead/assignments', { users: [userId] });
    const renamed = await owner.patch('/roles/support-lead', { name: 'Customer Support Lead' });
    expect(renamed.body).toMatchObject({ slug: 'support-lead', name: 'Customer Support Lead', assigned: { users: 1, groups: 0 } });
    const slugChange = await owner.patch('/roles/support-lead', { slug: 'other' });
    expect(slugChange.status).toBe(400);
    expect(slugChange.body.errors[0].path).toBe('body');
  });

  it('a deleted role’s slug is retired for good, for given and generated slugs', async () => {
    expect((await owner.post('/roles', { name: 'Temp', capabilities: ['users:view'] })).body.slug).toBe('temp');
    expect((await owner.delete('/roles/temp')).status).toBe(200);
    expect((await owner.post('/roles', { name: 'Temp', capabilities: ['users:view'] })).body.slug).toBe('temp-2');
    const given = await owner.post('/roles', { name: 'Temp again', slug: 'temp', capabilities: ['users:view'] });
    expect(given.status).toBe(409);
    expect(given.body.code).toBe('slug_unavailable');
    expect((await owner.post('/roles', { name: 'Bad slug', slug: 'Bad_Slug', capabilities: ['users:view'] })).body.code).toBe('invalid_slug');
  });
});

describe('system roles', () => {
  it('can be listed but neither edited nor deleted', async () => {
    const list = await owner.get('/roles?type=system');
    expect(list.body.items.map((r: { slug: string }) => r.slug).sort()).toEqual(['administrator', 'operator', 'owner', 'viewer']);
    expect((await owner.get('/roles')).body.items.every((r: { type: string }) => r.type === 'custom')).toBe(true);
    const edit = await owner.patch('/roles/viewer', { name: 'Watcher' });
    expect(edit.status).toBe(403);
    expect(edit.body.code).toBe('system_role_immutable');
    expect((await owner.delete('/roles/owner')).body.code).toBe('system_role_immutable');
  });
});

describe('deleting an assigned role', () => {
  it('answers 409 role_in_use with counts', async () => {
    await owner.post('/roles', { name: 'In use', capabilities: ['reports:view'] });
    await owner.post('/roles/in-use/assignments', { users: [userId] });
    const res = await owner.delete('/roles/in-use');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'role_in_use', assigned: { users: 1, groups: 0, clients: 0 } });
    expect((await owner.get('/roles/in-use')).status).toBe(200);
  });

  it('?strategy=unassign deletes and the audit event holds the full prior assignment list', async () => {
    await owner.post('/roles', { name: 'Unassign me', capabilities: ['reports:view'] });
    await owner.post('/roles/unassign-me/assignments', { users: [userId], expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const res = await owner.delete('/roles/unassign-me?strategy=unassign');
    expect(res.body).toMatchObject({ deleted: 'unassign-me', prior_assignments: { users: 1, groups: 0, clients: 0 } });
    const [event] = (await auditEvents(t, 'role.deleted')).filter((e) => e.target_id === 'unassign-me');
    expect(event!.data.strategy).toBe('unassign');
    expect(event!.data.prior_assignments.users).toEqual([{ id: userId, assigned_at: expect.any(String), expires_at: expect.any(String) }]);
    expect((await t.server.core.services.roles.assignments(ownerAccess(t.tenantId), 'in-use')).users.map((u) => u.id)).toContain(userId);
  });

  it('?reassign_to moves every assignment to another role', async () => {
    await owner.post('/roles', { name: 'Old home', capabilities: ['reports:view'] });
    await owner.post('/roles', { name: 'New home', capabilities: ['reports:view', 'users:view'] });
    await owner.post('/roles/old-home/assignments', { users: [userId] });
    const res = await owner.delete('/roles/old-home?reassign_to=new-home');
    expect(res.body).toMatchObject({ deleted: 'old-home', reassigned_to: 'new-home' });
    const moved = await owner.get('/roles/new-home/assignments');
    expect(moved.body.users.map((u: { id: string }) => u.id)).toEqual([userId]);
    // Times are ISO 8601, as everywhere in the API.
    expect(moved.body.users[0].assigned_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect((await owner.delete('/roles/x?reassign_to=nowhere')).status).toBe(404);
  });
});

describe('assignments from the role', () => {
  it('are idempotent and report what changed and what was already so', async () => {
    await owner.post('/roles', { name: 'Idem', capabilities: ['reports:view'] });
    const first = await owner.post('/roles/idem/assignments', { users: [userId] });
    expect(first.body.changed.users).toEqual([userId]);
    const again = await owner.post('/roles/idem/assignments', { users: [userId] });
    expect(again.body).toMatchObject({ changed: { users: [] }, unchanged: { users: [userId] } });
    const removed = await owner.post('/roles/idem/assignments/remove', { users: [userId] });
    expect(removed.body.changed.users).toEqual([userId]);
    expect((await owner.post('/roles/idem/assignments/remove', { users: [userId] })).body.unchanged.users).toEqual([userId]);
    const events = (await auditEvents(t)).filter((e) => e.data.role === 'idem');
    expect(events.map((e) => e.action)).toEqual(['role.assigned', 'role.unassigned']);
    expect(events[0]).toMatchObject({ actor_type: 'client', actor_id: t.admin.id, target_type: 'user', target_id: userId });
  });

  it('a create can carry starter assignments', async () => {
    const res = await owner.post('/roles', { name: 'Starter', capabilities: ['reports:view'], assign: { users: [userId] } });
    expect(res.status).toBe(201);
    expect(res.body.assigned).toEqual({ users: 1, groups: 0 });
  });

  it('unknown or cross-tenant ids are 404 and nothing is touched', async () => {
    await owner.post('/roles', { name: 'Strict', capabilities: ['reports:view'] });
    const other = await t.server.core.services.users.create(ownerAccess(t.tenantId), { email: 'strict@example.test' });
    const res = await owner.post('/roles/strict/assignments', { users: [other.id, '00000000-0000-4000-8000-000000000000'] });
    expect(res.status).toBe(404);
    expect((await owner.get('/roles/strict/assignments')).body.users).toEqual([]);
    expect((await owner.post('/roles/strict/assignments', { users: ['not-a-uuid'] })).status).toBe(400);
  });
});

describe('no escalation (CHECKLIST 22)', () => {
  it('an actor can create, edit and assign roles only with capabilities it holds', async () => {
    const { api } = await limitedApi('Delegated admin', ['members:change_roles', 'users:view', 'reports:view']);
    const tooMuch = await api.post('/roles', { name: 'Sneaky', capabilities: ['audit:export'] });
    expect(tooMuch.status).toBe(403);
    expect(tooMuch.body).toMatchObject({ code: 'escalation_denied', missing: ['audit:export', 'audit:read'] });
    expect((await owner.get('/roles/sneaky')).status).toBe(404);
    expect((await api.post('/roles', { name: 'Modest', capabilities: ['reports:view'] })).status).toBe(201);
    expect((await api.patch('/roles/modest', { capabilities: ['reports:view', 'users:suspend'] })).body.code).toBe('escalation_denied');
    const assign = await api.post('/roles/administrator/assignments', { users: [userId] });
    expect(assign.status).toBe(403);
    expect(assign.body.code).toBe('escalation_denied');
    expect((await owner.post('/roles/owner/assignments', { users: [userId] })).status).toBe(200);
    expect((await api.post('/roles/owner/assignments/remove', { users: [userId] })).body.code).toBe('escalation_denied');
    await owner.post('/roles/owner/assignments/remove', { users: [userId] });
  });

  it('a token without members:change_roles is refused with insufficient_scope', async () => {
    const { api } = await limitedApi('Read only', ['users:view']);
    const res = await api.post('/roles', { name: 'Nope', capabilities: ['users:view'] });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    expect((await api.get('/roles')).status).toBe(200);
  });
});

describe('last Owner (CHECKLIST 23)', () => {
  it('removing the last Owner user is 409; a service client with owner does not count', async () => {
    const res = await owner.post('/roles/owner/assignments/remove', { users: [t.owner.id] });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('last_owner');
    expect((await owner.get('/roles/owner/assignments')).body.users.map((u: { id: string }) => u.id)).toContain(t.owner.id);
    // With a second Owner user, the first can go.
    const second = await t.server.core.services.users.create(ownerAccess(t.tenantId), { email: 'second-owner@example.test' });
    await owner.post('/roles/owner/assignments', { users: [second.id] });
    expect((await owner.post('/roles/owner/assignments/remove', { users: [t.owner.id] })).status).toBe(200);
    expect((await owner.post('/roles/owner/assignments/remove', { users: [second.id] })).body.code).toBe('last_owner');
    await owner.post('/roles/owner/assignments', { users: [t.owner.id] });
  });
});

describe('audit of role changes', () => {
  it('records created (name, slug, capabilities), updated (before/after) and deleted', async () => {
    await owner.post('/roles', { name: 'Audited', capabilities: ['branding:edit'] });
    await owner.patch('/roles/audited', { name: 'Audited twice' });
    await owner.delete('/roles/audited');
    const events = (await auditEvents(t)).filter((e) => e.target_type === 'role' && e.target_id === 'audited');
    expect(events.map((e) => e.action)).toEqual(['role.created', 'role.updated', 'role.deleted']);
    expect(events[0]!.data).toEqual({ name: 'Audited', slug: 'audited', capabilities: ['branding:edit', 'branding:view'] });
    expect(events[1]!.data.before.name).toBe('Audited');
    expect(events[1]!.data.after.name).toBe('Audited twice');
    expect(events.every((e) => e.actor_type === 'client' && e.actor_id === t.admin.id)).toBe(true);
  });
});

describe('Idempotency-Key', () => {
  it('a repeated key returns the first response and creates nothing new; another body with it is 422', async () => {
    const headers = { 'Idempotency-Key': 'create-once-123' };
    const first = await owner.post('/roles', { name: 'Once', capabilities: ['users:view'] }, headers);
    const second = await owner.post('/roles', { name: 'Once', capabilities: ['users:view'] }, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect((await auditEvents(t, 'role.created')).filter((e) => e.target_id === 'once')).toHaveLength(1);
    const other = await owner.post('/roles', { name: 'Twice', capabilities: ['users:view'] }, headers);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('idempotency_key_reused');
  });
});

describe('catalogue endpoint', () => {
  it('returns the catalogue grouped by area with status, dependencies and reserved flags', async () => {
    const res = await owner.get('/capabilities');
    const tenant = res.body.areas.find((a: { area: string }) => a.area === 'tenant');
    expect(tenant.capabilities.every((c: { reserved: boolean }) => c.reserved)).toBe(true);
    const users = res.body.areas.find((a: { area: string }) => a.area === 'users');
    expect(users.capabilities.find((c: { id: string }) => c.id === 'users:gdpr_delete')).toMatchObject({ status: 'in_flight', requires: ['users:delete', 'users:view'] });
  });
});
