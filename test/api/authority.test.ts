/* eslint-disable @typescript-eslint/no-explicit-any -- rows and bodies are whatever the database and API return */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob as runJobIn } from '../support/jobs.ts';
import { ownerAccess } from '../support/access.ts';
import { adminApi, limitedApi, ownerApi, serviceToken, type AdminApi, type ApiResponse } from '../support/api.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;

const q = async (query: ReturnType<typeof sql>): Promise<any[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: any[] }).rows;
const auditHead = async () => (await q(sql`select coalesce(max(seq), 0)::int as n from audit_events where tenant_id = ${t.tenantId}`))[0].n as number;
/** Status and problem code together, so a failure prints the whole body. */
const outcome = (res: ApiResponse) => ({ status: res.status, code: res.body?.code, body: res.body });
const refused = (status: number, code: string) => ({ status, code, body: expect.anything() });

/** A service client holding one system role, and its API handle. */
async function systemRoleApi(role: string): Promise<AdminApi> {
  const { services } = t.server.core;
  const svc = await services.clients.create(ownerAccess(t.tenantId), { name: `${role} bot`, type: 'service' });
  await services.roles.assign(ownerAccess(t.tenantId), role, { type: 'client', id: svc.client.id });
  return adminApi(t, await serviceToken(t, svc.client.id, svc.secret!));
}

const runJob = (id: string) => runJobIn(t, owner, id);

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
});
afterAll(() => t?.close());

describe('role edits that remove (CHECKLIST 28)', () => {
  it('a role manager can neither drop nor add a capability it does not hold; the role and the log stay as they were', async () => {
    const team = await owner.post('/roles', { name: 'Audit team', capabilities: ['audit:read', 'users:view'] });
    expect(team.status).toBe(201);
    const { api: manager } = await limitedApi(t, 'Role manager 28', ['members:change_roles', 'users:view']);
    const head = await auditHead();
    expect(outcome(await manager.patch('/roles/audit-team', { capabilities: ['users:view'] }))).toEqual(refused(403, 'escalation_denied'));
    expect(outcome(await manager.patch('/roles/audit-team', { capabilities: ['users:view', 'audit:read', 'reports:view'] }))).toEqual(refused(403, 'escalation_denied'));
    // Even a rename shapes a role the manager couldn't have made.
    expect(outcome(await manager.patch('/roles/audit-team', { name: 'Renamed' }))).toEqual(refused(403, 'escalation_denied'));
    expect((await owner.get('/roles/audit-team')).body).toMatchObject({ name: 'Audit team', capabilities: ['audit:read', 'users:view'] });
    expect(await auditHead()).toBe(head);
    // What it holds, it may shape.
    await owner.post('/roles', { name: 'Viewers only', capabilities: ['users:view'] });
    expect((await manager.patch('/roles/viewers-only', { name: 'Viewers' })).status).toBe(200);
  });
});

describe('expiring the last Owner (CHECKLIST 29)', () => {
  it('giving the last permanent Owner assignment an expiry is 409 last_owner; expiring Owners do not count', async () => {
    const head = await auditHead();
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    expect(outcome(await owner.put(`/users/${t.owner.id}/roles/owner`, { expires_at: soon }))).toEqual(refused(409, 'last_owner'));
    expect(await auditHead()).toBe(head);
    expect((await owner.get(`/users/${t.owner.id}/roles`)).body.direct).toEqual([expect.objectContaining({ slug: 'owner', expires_at: null })]);
    // A second, permanent Owner: now the first may become time-bound…
    const second = (await owner.post('/users', { email: 'second-owner@example.test' })).body.id;
    expect((await owner.put(`/users/${second}/roles/owner`, {})).status).toBe(200);
    expect((await owner.put(`/users/${t.owner.id}/roles/owner`, { expires_at: soon })).status).toBe(200);
    // …and then the second is the last permanent one: removing, suspending or expiring it is refused.
    expect(outcome(await owner.delete(`/users/${second}/roles/owner`))).toEqual(refused(409, 'last_owner'));
    expect(outcome(await owner.post(`/users/${second}/suspend`))).toEqual(refused(409, 'last_owner'));
    expect(outcome(await owner.put(`/users/${second}/roles/owner`, { expires_at: soon }))).toEqual(refused(409, 'last_owner'));
    expect(outcome(await owner.post('/bulk/role-assignments', { role: 'owner', action: 'remove', users: [second] }))).toEqual(refused(409, 'last_owner'));
    // Making the first permanent again frees the second.
    expect((await owner.put(`/users/${t.owner.id}/roles/owner`, { expires_at: null })).status).toBe(200);
    expect((await owner.delete(`/users/${second}/roles/owner`)).status).toBe(200);
  });
});

describe('first-party reach (CHECKLIST 30)', () => {
  it('an admin without tenant:* makes a first-party client; an Owner signing in through it gets nothing the admin did not hold', async () => {
    const admin = await systemRoleApi('administrator');
    const app = await admin.post('/applications', { name: 'Admin-made app', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    expect(app.status).toBe(201);
    expect(app.body.allowed_scopes).not.toContain('tenant:transfer_ownership');
    expect(app.body.allowed_scopes).toContain('members:change_roles');
    const web = await discover(t.issuer, app.body.id, app.body.client_secret);
    const { tokens } = await signIn(t.issuer, web, { email: t.owner.email, password: t.owner.password }, { scope: 'openid tenant:transfer_ownership tenant:delete users:view' });
    const scopes = scopesOf(await verifyAccessToken(t.issuer, tokens.access_token));
    expect([...scopes].filter((s) => s.startsWith('tenant:'))).toEqual([]);
    expect(scopes.has('users:view')).toBe(true);
    // Asking for more than it holds, or widening later, is refused.
    expect(outcome(await admin.post('/applications', { name: 'Wider', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI], allowed_scopes: ['tenant:transfer_ownership'] }))).toEqual(
      refused(403, 'escalation_denied'),
    );
    expect(outcome(await admin.patch(`/applications/${app.body.id}`, { allowed_scopes: ['users:view', 'tenant:delete'] }))).toEqual(refused(403, 'escalation_denied'));
    // Clearing the list means "default": the editor's authority again, never everything.
    const cleared = await admin.patch(`/applications/${app.body.id}`, { allowed_scopes: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.allowed_scopes).toEqual(app.body.allowed_scopes);
  });

  it('an admin cannot edit (redirect URIs included) a first-party client whose reach exceeds its own', async () => {
    const made = await owner.post('/applications', { name: 'Owner-made app', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    expect(made.body.allowed_scopes).toBeNull();
    const admin = await systemRoleApi('administrator');
    const head = await auditHead();
    expect(outcome(await admin.patch(`/applications/${made.body.id}`, { redirect_uris: ['https://attacker.example/cb'] }))).toEqual(refused(403, 'escalation_denied'));
    expect(outcome(await admin.post(`/applications/${made.body.id}/rotate-secret`))).toEqual(refused(403, 'escalation_denied'));
    expect(await auditHead()).toBe(head);
    expect((await owner.get(`/applications/${made.body.id}`)).body.redirect_uris).toEqual([REDIRECT_URI]);
  });
});

describe('one assignment engine', () => {
  it('a bulk add and a single add write identical rows (expiry included) and identical audit data', async () => {
    await owner.post('/roles', { name: 'Parity', capabilities: ['reports:view'] });
    const [a, b] = [(await owner.post('/users', { email: 'parity-a@example.test' })).body.id, (await owner.post('/users', { email: 'parity-b@example.test' })).body.id];
    const until = new Date(Date.now() + 7_200_000).toISOString();
    expect((await owner.put(`/users/${a}/roles/parity`, { expires_at: until })).status).toBe(200);
    const job = await owner.post('/bulk/role-assignments', { role: 'parity', action: 'add', users: [b], expires_at: until });
    expect(job.status).toBe(202);
    expect(await runJob(job.body.id)).toMatchObject({ status: 'completed', result: { changed: 1 } });
    const rows = await q(sql`select ur.user_id, ur.expires_at, ur.tenant_id from user_roles ur join roles r on r.id = ur.role_id where r.slug = 'parity' and r.tenant_id = ${t.tenantId}`);
    const shape = (id: string) => rows.filter((r) => r.user_id === id).map((r) => ({ expires_at: new Date(r.expires_at).toISOString(), tenant_id: r.tenant_id }));
    expect(shape(b)).toEqual(shape(a));
    const events = await q(sql`select target_id, data, actor_type, parent_id from audit_events where tenant_id = ${t.tenantId} and action = 'role.assigned' and target_id in (${a}, ${b})`);
    const single = events.find((e) => e.target_id === a)!;
    const bulk = events.find((e) => e.target_id === b)!;
    expect(bulk.data).toEqual(single.data);
    expect(bulk.data).toEqual({ role: 'parity', expires_at: new Date(until).toISOString() });
    expect({ single: single.parent_id, bulk: bulk.parent_id }).toEqual({ single: null, bulk: job.body.id });
  });

  it('a bulk job whose creator lost a capability before it ran refuses the rows that need it', async () => {
    await owner.post('/roles', { name: 'Reports', capabilities: ['reports:view'] });
    await owner.post('/roles', { name: 'Readers', capabilities: ['users:view'] });
    const manager = await owner.post('/roles', { name: 'Bulk manager', capabilities: ['members:change_roles', 'users:bulk', 'users:view', 'reports:view'] });
    const svc = await t.server.core.services.clients.create(ownerAccess(t.tenantId), { name: 'bulk manager', type: 'service' });
    await t.server.core.services.roles.assign(ownerAccess(t.tenantId), manager.body.slug, { type: 'client', id: svc.client.id });
    const api = adminApi(t, await serviceToken(t, svc.client.id, svc.secret!));
    const plain = (await owner.post('/users', { email: 'plain@example.test' })).body.id;
    const reporter = (await owner.post('/users', { email: 'reporter@example.test' })).body.id;
    await owner.put(`/users/${reporter}/roles/reports`, {});
    const job = await api.post('/bulk/role-assignments', { role: 'readers', action: 'add', users: [plain, reporter] });
    expect(job.status).toBe(202);
    // The creator loses reports:view after asking and before the job runs.
    expect((await owner.patch(`/roles/${manager.body.slug}`, { capabilities: ['members:change_roles', 'users:bulk', 'users:view'] })).status).toBe(200);
    const done = await runJob(job.body.id);
    expect(done).toMatchObject({ status: 'completed', result: { changed: 1, unchanged: 0, failed: [{ user: reporter, reason: 'escalation_denied' }], failed_count: 1 } });
    const holders = (await owner.get('/roles/readers/assignments')).body.users.map((u: { id: string }) => u.id);
    expect(holders).toEqual([plain]);
  });
});
