import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';

let t: TestTessera;
let api: AdminApi;

beforeAll(async () => {
  t = await startTessera();
  api = await ownerApi(t);
});
afterAll(() => t?.close());

const user = async (email: string) => (await t.server.core.services.users.create(ownerAccess(t.tenantId), { email })).id;
type RolesView = { direct: { slug: string }[]; via_groups: { slug: string; group_path: { id: string }[] }[]; capabilities: string[] };

describe('three entry points write the same rows (SPEC §5)', () => {
  it('from the role, from the user and from the group give the same GET /users/:id/roles view', async () => {
    await api.post('/roles', { name: 'Triage', capabilities: ['users:suspend'] });
    const [a, b, c] = [await user('entry-a@example.test'), await user('entry-b@example.test'), await user('entry-c@example.test')];

    expect((await api.post('/roles/triage/assignments', { users: [a] })).status).toBe(200);
    expect((await api.put(`/users/${b}/roles/triage`, {})).status).toBe(200);
    const viewA = (await api.get<RolesView>(`/users/${a}/roles`)).body;
    const viewB = (await api.get<RolesView>(`/users/${b}/roles`)).body;
    expect(viewA.direct.map((r) => r.slug)).toEqual(['triage']);
    expect(viewB.direct.map((r) => r.slug)).toEqual(['triage']);
    expect(viewA.capabilities).toEqual(['users:suspend', 'users:view']);
    expect(viewB.capabilities).toEqual(viewA.capabilities);

    const group = (await api.post('/groups', { name: 'Triage team' })).body;
    await api.post(`/groups/${group.id}/members`, { users: [c] });
    expect((await api.put(`/groups/${group.id}/roles/triage`, {})).status).toBe(200);
    const viewC = (await api.get<RolesView>(`/users/${c}/roles`)).body;
    expect(viewC.direct).toEqual([]);
    expect(viewC.via_groups.map((r) => r.slug)).toEqual(['triage']);
    expect(viewC.via_groups[0]!.group_path.map((g) => g.id)).toEqual([group.id]);
    expect(viewC.capabilities).toEqual(viewA.capabilities);

    // And all three are visible from the role's side.
    const assignments = (await api.get(`/roles/triage/assignments`)).body;
    expect(assignments.users.map((u: { id: string }) => u.id).sort()).toEqual([a, b].sort());
    expect(assignments.groups.map((g: { id: string }) => g.id)).toEqual([group.id]);

    // Removing through a different entry point than the one that added works the same.
    await api.delete(`/users/${a}/roles/triage`);
    await api.post('/roles/triage/assignments/remove', { users: [b], groups: [group.id] });
    for (const id of [a, b, c]) expect((await api.get<RolesView>(`/users/${id}/roles`)).body.capabilities).toEqual([]);
  });
});

describe('admin filters are allow-listed (CHECKLIST 21)', () => {
  it('SQL in an enumerated filter or an unknown key is 400; in a free-text filter it is only data', async () => {
    const status = await api.get(`/users?status=${encodeURIComponent("active' OR 1=1 --")}`);
    expect(status.status).toBe(400);
    expect(status.body.code).toBe('validation_failed');
    expect((await api.get('/users?sort=email;drop table users')).status).toBe(400);
    expect((await api.get(`/roles?type=${encodeURIComponent('custom; delete from roles')}`)).status).toBe(400);
    const text = await api.get(`/users?query=${encodeURIComponent("x' or '1'='1")}`);
    expect(text.status).toBe(200);
    expect(text.body.items).toEqual([]);
    expect((await api.get('/users?limit=0')).status).toBe(400);
    expect((await api.get('/users?limit=1&limit=2')).status).toBe(400);
  });
});
