import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { ownerApi, type AdminApi, type ApiResponse, limitedApi as limitApi } from '../support/api.ts';
import { auditEvents } from '../support/audit.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;
const byAdmin = () => ({ actor_type: 'client', actor_id: t.admin.id });

const limitedApi = (name: string, capabilities: string[]) => limitApi(t, name, capabilities);

const newUser = async (email: string, password?: string) =>
  (await t.server.core.services.users.create(ownerAccess(t.tenantId), { email, ...(password ? { password } : {}) })).id;

async function newGroup(name: string): Promise<string> {
  const res = await owner.post('/groups', { name });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const memberIds = async (groupId: string) => ((await owner.get(`/groups/${groupId}/members?limit=200`)).body.items as { id: string }[]).map((m) => m.id).sort();

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
});
afterAll(() => t?.close());

describe('group CRUD', () => {
  it('creates, reads, renames and deletes a group, auditing each change', async () => {
    const created = await owner.post('/groups', { name: '  Engineering  ', description: 'builders' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'Engineering',
      description: 'builders',
      member_count: 0,
      subgroup_count: 0,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const id = created.body.id as string;
    const parent = await newGroup('Company');
    expect((await owner.post(`/groups/${parent}/subgroups`, { groups: [id] })).status).toBe(200);

    const got = await owner.get(`/groups/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, name: 'Engineering', parents: [parent] });

    const renamed = await owner.patch(`/groups/${id}`, { name: 'R&D', description: null });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id, name: 'R&D', description: null });
    expect((await owner.patch(`/groups/${id}`, {})).status).toBe(400);

    const userId = await newUser('crud-member@example.test');
    await owner.post(`/groups/${id}/members`, { users: [userId] });
    await owner.put(`/groups/${id}/roles/viewer`, {});
    expect((await owner.delete(`/groups/${id}`)).status).toBe(204);
    expect((await owner.get(`/groups/${id}`)).status).toBe(404);
    expect((await owner.delete(`/groups/${id}`)).status).toBe(404);

    expect(await auditEvents(t, 'group.created')).toEqual(expect.arrayContaining([expect.objectContaining({ ...byAdmin(), target_id: id, data: { name: 'Engineering', description: 'builders' } })]));
    const [updated] = (await auditEvents(t, 'group.updated')).filter((e) => e.target_id === id);
    expect(updated).toMatchObject({ ...byAdmin(), data: { before: { name: 'Engineering', description: 'builders' }, after: { name: 'R&D', description: null } } });
    const [deleted] = (await auditEvents(t, 'group.deleted')).filter((e) => e.target_id === id);
    expect(deleted).toMatchObject({
      ...byAdmin(),
      target_type: 'group',
      data: { name: 'R&D', prior: { members: [userId], subgroups: [], parents: [parent], roles: [{ role: 'viewer', expires_at: null }] } },
    });
  });

  it('names are unique ignoring case, 1-100 characters after trimming', async () => {
    const id = await newGroup('Finance');
    const clash = await owner.post('/groups', { name: 'FINANCE' });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('group_name_taken');
    expect(clash.headers.get('content-type')).toContain('application/problem+json');
    const other = await newGroup('Legal');
    expect((await owner.patch(`/groups/${other}`, { name: 'finance' })).body.code).toBe('group_name_taken');
    // Changing only the case of its own name is not a clash.
    expect((await owner.patch(`/groups/${id}`, { name: 'FINANCE' })).body.name).toBe('FINANCE');
    expect((await owner.post('/groups', { name: '   ' })).body.code).toBe('validation_failed');
    expect((await owner.post('/groups', { name: 'x'.repeat(101) })).status).toBe(400);
    expect((await owner.post('/groups', { name: 'Desc', description: 'd'.repeat(201) })).status).toBe(400);
    expect((await owner.get('/groups/not-a-uuid')).body.code).toBe('validation_failed');
  });

  it('lists with cursor pagination and a name filter', async () => {
    const ids = [];
    for (const n of ['Page 1', 'Page 2', 'Page 3', 'Page 4', 'Page 5']) ids.push(await newGroup(n));
    await owner.post(`/groups/${ids[0]}/subgroups`, { groups: [ids[1]] });
    const seen: { id: string; name: string; subgroup_count: number }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: ApiResponse<{ items: typeof seen; next_cursor: string | null }> = await owner.get(`/groups?query=page&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((g) => g.id)).toEqual(ids);
    expect(seen[0]).toMatchObject({ name: 'Page 1', subgroup_count: 1, member_count: 0 });
    expect((await owner.get('/groups?query=nothing-like-this')).body).toEqual({ items: [], next_cursor: null });
    expect((await owner.get('/groups?cursor=garbage')).body.code).toBe('invalid_cursor');
  });
});

describe('members', () => {
  it('adds and removes idempotently, reporting changed and unchanged, with one audit event per user', async () => {
    const g = await newGroup('Members');
    const [u1, u2, u3] = [await newUser('m1@example.test'), await newUser('m2@example.test'), await newUser('m3@example.test')];
    const first = await owner.post(`/groups/${g}/members`, { users: [u1, u2] });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ changed: [u1, u2], unchanged: [] });
    const again = await owner.post(`/groups/${g}/members`, { users: [u1, u3] });
    expect(again.body).toEqual({ changed: [u3], unchanged: [u1] });
    expect(await memberIds(g)).toEqual([u1, u2, u3].sort());

    const page1 = await owner.get(`/groups/${g}/members?limit=2`);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.items[0]).toEqual({ id: u1, email: 'm1@example.test', display_name: expect.any(String), added_at: expect.any(String) });
    const page2 = await owner.get(`/groups/${g}/members?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body).toEqual({ items: [expect.objectContaining({ id: u3 })], next_cursor: null });
    expect((await owner.get(`/groups/${g}`)).body.member_count).toBe(3);

    expect((await owner.delete(`/groups/${g}/members/${u2}`)).status).toBe(204);
    expect((await owner.delete(`/groups/${g}/members/${u2}`)).status).toBe(204);
    expect(await memberIds(g)).toEqual([u1, u3].sort());

    const added = (await auditEvents(t, 'group.member_added')).filter((e) => e.target_id === g);
    expect(added.map((e) => e.data.user).sort()).toEqual([u1, u2, u3].sort());
    expect(added.every((e) => e.actor_type === 'client' && e.actor_id === t.admin.id)).toBe(true);
    const removed = (await auditEvents(t, 'group.member_removed')).filter((e) => e.target_id === g);
    expect(removed).toEqual([expect.objectContaining({ ...byAdmin(), data: { user: u2 } })]);
  });
});

describe('nesting', () => {
  it('rejects a cycle with 409 group_cycle, including a group under itself, and changes nothing', async () => {
    const [a, b, c] = [await newGroup('Cycle A'), await newGroup('Cycle B'), await newGroup('Cycle C')];
    expect((await owner.post(`/groups/${a}/subgroups`, { groups: [b] })).body).toEqual({ changed: [b], unchanged: [] });
    expect((await owner.post(`/groups/${b}/subgroups`, { groups: [c] })).status).toBe(200);
    expect((await owner.post(`/groups/${b}/subgroups`, { groups: [c] })).body).toEqual({ changed: [], unchanged: [c] });
    const cycle = await owner.post(`/groups/${c}/subgroups`, { groups: [a] });
    expect(cycle.status).toBe(409);
    expect(cycle.body.code).toBe('group_cycle');
    expect((await owner.post(`/groups/${a}/subgroups`, { groups: [a] })).body.code).toBe('group_cycle');
    expect((await owner.get(`/groups/${c}/subgroups`)).body.items).toEqual([]);
    expect((await owner.get(`/groups/${a}/subgroups`)).body.items).toEqual([expect.objectContaining({ id: b, name: 'Cycle B' })]);
    const added = (await auditEvents(t, 'group.subgroup_added')).filter((e) => [a, b, c].includes(e.target_id!));
    expect(added.map((e) => [e.target_id, e.data.group])).toEqual([
      [a, b],
      [b, c],
    ]);
    expect(added.every((e) => e.actor_id === t.admin.id)).toBe(true);
  });

  it('removing a group from its parent cuts inheritance at the next token', async () => {
    const { services } = t.server.core;
    const web = await services.clients.create(ownerAccess(t.tenantId), { name: 'Console', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
    const config = await discover(t.issuer, web.client.id, web.secret!);
    const person = { email: 'nested@example.test', password: 'nested password 123' };
    const userId = await newUser(person.email, person.password);
    const [parent, child] = [await newGroup('Support'), await newGroup('Support EMEA')];
    await owner.post(`/groups/${parent}/subgroups`, { groups: [child] });
    await owner.post(`/groups/${child}/members`, { users: [userId] });
    const put = await owner.put(`/groups/${parent}/roles/operator`, {});
    expect(put.status).toBe(200);
    expect(put.body.changed.groups).toEqual([parent]);
    expect((await owner.put(`/groups/${parent}/roles/operator`, {})).body.unchanged.groups).toEqual([parent]);

    const roles = await owner.get(`/groups/${child}/roles`);
    expect(roles.body.direct).toEqual([]);
    expect(roles.body.inherited).toEqual([
      expect.objectContaining({ slug: 'operator', type: 'system', group: { id: parent, name: 'Support' }, path: [{ id: child, name: 'Support EMEA' }, { id: parent, name: 'Support' }] }),
    ]);
    expect((await owner.get(`/groups/${parent}/roles`)).body.direct).toEqual([expect.objectContaining({ slug: 'operator', expires_at: null })]);

    const { tokens } = await signIn(t.issuer, config, person, { scope: 'openid offline_access users:suspend' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))]).toEqual(['users:suspend']);

    expect((await owner.delete(`/groups/${parent}/subgroups/${child}`)).status).toBe(204);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(scopesOf(await verifyAccessToken(t.issuer, refreshed.access_token)).size).toBe(0);
    const removed = (await auditEvents(t, 'group.subgroup_removed')).filter((e) => e.target_id === parent);
    expect(removed).toEqual([expect.objectContaining({ ...byAdmin(), data: { group: child } })]);

    // Re-nest, then take the role off the group: also gone at the next token.
    await owner.post(`/groups/${parent}/subgroups`, { groups: [child] });
    const back = await client.refreshTokenGrant(config, refreshed.refresh_token!);
    expect([...scopesOf(await verifyAccessToken(t.issuer, back.access_token))]).toEqual(['users:suspend']);
    expect((await owner.delete(`/groups/${parent}/roles/operator`)).status).toBe(204);
    const none = await client.refreshTokenGrant(config, back.refresh_token!);
    expect(scopesOf(await verifyAccessToken(t.issuer, none.access_token)).size).toBe(0);
    const roleEvents = (await auditEvents(t)).filter((e) => e.action.startsWith('role.') && e.target_id === parent);
    expect(roleEvents.map((e) => [e.action, e.actor_id, e.data.role])).toEqual([
      ['role.assigned', t.admin.id, 'operator'],
      ['role.unassigned', t.admin.id, 'operator'],
    ]);
  });
});

describe('escalation (CHECKLIST 22)', () => {
  it('a delegated admin cannot put anyone in a group conferring more than it holds, directly or through an ancestor', async () => {
    const { api } = await limitedApi('Delegated groups', ['users:view', 'members:change_roles', 'users:create']);
    const target = await newUser('escalate@example.test');
    const admins = await newGroup('Admins');
    await owner.put(`/groups/${admins}/roles/administrator`, {});
    const under = await newGroup('Admins juniors');
    await owner.post(`/groups/${admins}/subgroups`, { groups: [under] });
    const before = (await auditEvents(t)).length;

    const denied = await api.post(`/groups/${admins}/members`, { users: [target] });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('escalation_denied');
    expect((await api.post(`/groups/${under}/members`, { users: [target] })).body.code).toBe('escalation_denied');
    const loose = await api.post('/groups', { name: 'Delegated loose' });
    expect(loose.status).toBe(201);
    expect((await api.post(`/groups/${admins}/subgroups`, { groups: [loose.body.id] })).body.code).toBe('escalation_denied');
    expect((await api.delete(`/groups/${under}`)).body.code).toBe('escalation_denied');
    expect((await api.put(`/groups/${loose.body.id}/roles/administrator`, {})).body.code).toBe('escalation_denied');
    expect(await memberIds(admins)).toEqual([]);
    expect(await memberIds(under)).toEqual([]);
    expect((await owner.get(`/groups/${under}`)).status).toBe(200);
    expect((await auditEvents(t)).length).toBe(before + 1); // only the loose group's creation

    // A group conferring only what the actor holds is fine, and so is removal from it.
    const readers = await newGroup('Readers');
    const reader = await t.server.core.services.roles.create(ownerAccess(t.tenantId), { name: 'User reader', capabilities: ['users:view'] });
    await owner.put(`/groups/${readers}/roles/${reader.slug}`, {});
    expect((await api.post(`/groups/${readers}/members`, { users: [target] })).body).toEqual({ changed: [target], unchanged: [] });
    expect((await api.delete(`/groups/${readers}/members/${target}`)).status).toBe(204);
    const events = (await auditEvents(t)).filter((e) => e.target_id === readers && e.action.startsWith('group.member'));
    expect(events.map((e) => e.actor_id)).toEqual([expect.any(String), expect.any(String)]);
    expect(events.every((e) => e.actor_type === 'client' && e.actor_id !== t.admin.id)).toBe(true);
  });

  it('403 insufficient_scope without members:change_roles', async () => {
    const { api } = await limitedApi('Group reader', ['users:view']);
    const g = await newGroup('Scoped');
    const res = await api.post('/groups', { name: 'Nope' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    expect((await api.delete(`/groups/${g}`)).body.code).toBe('insufficient_scope');
    expect((await api.get(`/groups/${g}`)).status).toBe(200);
  });
});

describe('last owner', () => {
  it('409 last_owner when removing a member would leave no Owner, and nothing changes', async () => {
    const { services } = t.server.core;
    const u = await newUser('owner-by-group@example.test');
    const g = await newGroup('Owners');
    await owner.put(`/groups/${g}/roles/owner`, {});
    await owner.post(`/groups/${g}/members`, { users: [u] });
    const parent = await newGroup('Owners parent');
    await owner.post(`/groups/${parent}/subgroups`, { groups: [g] });
    await services.roles.unassign(ownerAccess(t.tenantId), 'owner', { type: 'user', id: t.owner.id });
    try {
      const res = await owner.delete(`/groups/${g}/members/${u}`);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('last_owner');
      expect(await memberIds(g)).toEqual([u]);
      expect((await owner.delete(`/groups/${g}`)).body.code).toBe('last_owner');
      expect((await owner.delete(`/groups/${g}/roles/owner`)).body.code).toBe('last_owner');
      expect((await owner.get(`/groups/${g}`)).status).toBe(200);
      // Cutting an edge above the Owner group does not touch it: still allowed.
      expect((await owner.delete(`/groups/${parent}/subgroups/${g}`)).status).toBe(204);
    } finally {
      await services.roles.assign(ownerAccess(t.tenantId), 'owner', { type: 'user', id: t.owner.id });
    }
    expect((await owner.delete(`/groups/${g}/members/${u}`)).status).toBe(204);
  });
});

describe('tenancy', () => {
  it("another tenant's group or user ids give 404, in the path and in the body, and nothing changes", async () => {
    const { services, db, audit } = t.server.core;
    const other = (await bootstrapTenant({ db, audit }, { tenant: `o-${randomBytes(4).toString('hex')}` }))!;
    const foreignGroup = await services.groups.createGroup(ownerAccess(other.tenant.id), { name: 'Foreign' });
    const mine = await newGroup('Mine');
    const foreignPaths = [
      () => owner.get(`/groups/${foreignGroup.id}`),
      () => owner.get(`/groups/${foreignGroup.id}/members`),
      () => owner.get(`/groups/${foreignGroup.id}/roles`),
      () => owner.patch(`/groups/${foreignGroup.id}`, { name: 'Hijacked' }),
      () => owner.post(`/groups/${foreignGroup.id}/members`, { users: [other.owner.id] }),
      () => owner.post(`/groups/${foreignGroup.id}/subgroups`, { groups: [mine] }),
      () => owner.put(`/groups/${foreignGroup.id}/roles/viewer`, {}),
      () => owner.post(`/groups/${mine}/members`, { users: [other.owner.id] }),
      () => owner.post(`/groups/${mine}/subgroups`, { groups: [foreignGroup.id] }),
      () => owner.delete(`/groups/${mine}/members/${other.owner.id}`),
      () => owner.delete(`/groups/${foreignGroup.id}`),
    ];
    for (const call of foreignPaths) {
      const res = await call();
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    const still = await services.groups.get(ownerAccess(other.tenant.id), foreignGroup.id);
    expect(still).toMatchObject({ name: 'Foreign', member_count: 0, subgroup_count: 0, parents: [] });
    expect(await memberIds(mine)).toEqual([]);
    expect((await owner.get(`/groups/${mine}`)).body.subgroup_count).toBe(0);
  });
});
