import { runJob as runJobIn } from '../support/jobs.ts';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import { ownerAccess } from '../support/access.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, limitedApi, ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;

/* eslint-disable @typescript-eslint/no-explicit-any -- rows and bodies are whatever the database and API return */
const q = async <T = any>(query: ReturnType<typeof sql>): Promise<T[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: T[] }).rows;

/** `n` users of the test tenant, inserted in one statement. */
async function seedUsers(n: number): Promise<string[]> {
  const tag = randomBytes(4).toString('hex');
  const res = await q<{ id: string }>(sql`insert into users (id, tenant_id, email, email_key, display_name)
    select gen_random_uuid(), ${t.tenantId}, ${tag} || '-' || i || '@bulk.test', ${tag} || '-' || i || '@bulk.test', 'Bulk ' || i from generate_series(1, ${n}) i returning id`);
  return res.map((r) => r.id);
}

const runJob = (id: string) => runJobIn(t, owner, id);

const countOf = async (query: ReturnType<typeof sql>): Promise<number> => (await q<{ n: number }>(query))[0]!.n;
const childrenOf = (jobId: string) => q<{ action: string; target_id: string; data: any; actor_type: string }>(sql`select action, target_id, data, actor_type from audit_events where parent_id = ${jobId} order by seq`);
const eventById = (id: string) => q<{ action: string; data: any; parent_id: string | null }>(sql`select action, data, parent_id from audit_events where id = ${id}`);
const holders = async (slug: string) =>
  new Set((await q<{ user_id: string }>(sql`select ur.user_id from user_roles ur join roles r on r.id = ur.role_id where r.tenant_id = ${t.tenantId} and r.slug = ${slug}`)).map((r) => r.user_id));

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
});
afterAll(() => t?.close());

describe('bulk role change (SPEC §9)', () => {
  it('adds a role to 500 users by ids: progress, result, effective roles, 1 parent + 500 children, and re-running changes nothing', async () => {
    await owner.post('/roles', { name: 'Bulk reporter', capabilities: ['reports:view'] });
    const ids = await seedUsers(500);
    const res = await owner.post('/bulk/role-assignments', { role: 'bulk-reporter', action: 'add', users: ids });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ type: 'bulk_role_assignment', status: 'queued', progress: { done: 0, total: 500 } });
    const job = await runJob(res.body.id);
    expect(job).toMatchObject({ status: 'completed', progress: { done: 500, total: 500 }, result: { changed: 500, unchanged: 0, failed: [], failed_count: 0 } });

    const sample = await owner.get(`/users/${ids[137]}/roles`);
    expect(sample.body.direct.map((r: { slug: string }) => r.slug)).toContain('bulk-reporter');
    expect(sample.body.capabilities).toContain('reports:view');
    expect(await holders('bulk-reporter')).toEqual(new Set(ids));

    const [parent] = await eventById(res.body.id);
    expect(parent).toMatchObject({ action: 'bulk.role_assignment', parent_id: null, data: { role: 'bulk-reporter', action: 'add', total: 500, job: res.body.id } });
    const children = await childrenOf(res.body.id);
    expect(children).toHaveLength(500);
    expect(new Set(children.map((c) => c.target_id))).toEqual(new Set(ids));
    // The same event a single assignment writes (one assignment engine), pointing at the parent.
    expect(new Set(children.map((c) => JSON.stringify({ action: c.action, data: c.data, actor: c.actor_type })))).toEqual(
      new Set([JSON.stringify({ action: 'role.assigned', data: { role: 'bulk-reporter', expires_at: null }, actor: 'client' })]),
    );
    expect(await t.server.core.audit.verifyChain(t.server.core.db, t.tenantId)).toMatchObject({ ok: true });

    // The same job id again, once re-delivered as finished and once with its checkpoint reset: no change, no event.
    const before = await countOf(sql`select count(*)::int as n from audit_events where tenant_id = ${t.tenantId}`);
    const queue = t.server.core.producers.queue(QUEUE_NAMES.bulkRoles);
    await queue.remove(res.body.id);
    await t.server.core.producers.add(QUEUE_NAMES.bulkRoles, { jobId: res.body.id, tenantId: t.tenantId }, { jobId: res.body.id });
    expect((await runJob(res.body.id)).result.changed).toBe(500);
    await queue.remove(res.body.id);
    await q(sql`update jobs set status = 'running', progress_done = 0, result = null where id = ${res.body.id}`);
    await t.server.core.producers.add(QUEUE_NAMES.bulkRoles, { jobId: res.body.id, tenantId: t.tenantId }, { jobId: res.body.id });
    expect((await runJob(res.body.id)).result).toMatchObject({ changed: 0, unchanged: 500 });
    const after = await countOf(sql`select count(*)::int as n from audit_events where tenant_id = ${t.tenantId}`);
    expect(after).toBe(before);
    expect(await holders('bulk-reporter')).toEqual(new Set(ids));
  });

  it('adds by filter (group members) and removes by filter (current role holders)', async () => {
    await owner.post('/roles', { name: 'Filtered', capabilities: ['reports:view'] });
    const group = await owner.post('/groups', { name: `bulk-${randomBytes(3).toString('hex')}` });
    expect(group.status).toBe(201);
    const ids = await seedUsers(500);
    await q(sql`insert into group_members (tenant_id, group_id, user_id) select ${t.tenantId}, ${group.body.id}, unnest(${`{${ids.join(',')}}`}::uuid[])`);
    const add = await owner.post('/bulk/role-assignments', { role: 'filtered', action: 'add', filter: { group: group.body.id, status: 'active' } });
    expect(add.status).toBe(202);
    expect(add.body.progress.total).toBe(500);
    expect((await runJob(add.body.id)).result).toMatchObject({ changed: 500, unchanged: 0 });
    expect(await holders('filtered')).toEqual(new Set(ids));
    expect(await childrenOf(add.body.id)).toHaveLength(500);

    const remove = await owner.post('/bulk/role-assignments', { role: 'filtered', action: 'remove', filter: { role: 'filtered' } });
    expect(remove.body.progress.total).toBe(500);
    expect((await runJob(remove.body.id)).result).toMatchObject({ changed: 500, unchanged: 0 });
    expect((await holders('filtered')).size).toBe(0);
    const children = await childrenOf(remove.body.id);
    expect(children).toHaveLength(500);
    expect(children.every((c) => c.action === 'role.unassigned')).toBe(true);
    expect((await eventById(remove.body.id))[0]!.data).toMatchObject({ action: 'remove', total: 500 });
  });

  it('refuses escalation at request time with 403, and queues nothing', async () => {
    const { api, clientId } = await limitedApi(t, 'Bulk limited', ['users:bulk', 'members:change_roles', 'users:view']);
    const ids = await seedUsers(3);
    const res = await api.post('/bulk/role-assignments', { role: 'administrator', action: 'add', users: ids });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('escalation_denied');
    expect(await q(sql`select 1 from jobs where actor_id = ${clientId}`)).toHaveLength(0);
    const noScope = await limitedApi(t, 'No bulk', ['members:change_roles', 'users:view']);
    expect((await noScope.api.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users: ids })).body.code).toBe('insufficient_scope');
  });

  it('re-checks escalation at run time: an actor that lost members:change_roles fails cleanly with one event and no change', async () => {
    const { services } = t.server.core;
    await owner.post('/roles', { name: 'Runtime target', capabilities: ['reports:view'] });
    await owner.post('/roles', { name: 'Bulk base', capabilities: ['users:bulk', 'reports:view', 'users:view'] });
    await owner.post('/roles', { name: 'Role changer', capabilities: ['members:change_roles'] });
    const svc = await services.clients.create(ownerAccess(t.tenantId), { name: 'Runtime bulk', type: 'service' });
    await services.roles.assign(ownerAccess(t.tenantId), 'bulk-base', { type: 'client', id: svc.client.id });
    await services.roles.assign(ownerAccess(t.tenantId), 'role-changer', { type: 'client', id: svc.client.id });
    const api = adminApi(t, await serviceToken(t, svc.client.id, svc.secret!));
    const ids = await seedUsers(50);
    const res = await api.post('/bulk/role-assignments', { role: 'runtime-target', action: 'add', users: ids });
    expect(res.status).toBe(202);
    await services.roles.unassign(ownerAccess(t.tenantId), 'role-changer', { type: 'client', id: svc.client.id });

    const job = await runJob(res.body.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/escalation_denied.*members:change_roles/);
    expect((await holders('runtime-target')).size).toBe(0);
    const [event] = await eventById(res.body.id);
    expect(event).toMatchObject({ action: 'bulk.role_assignment', data: { outcome: 'denied', code: 'escalation_denied' } });
    expect(await childrenOf(res.body.id)).toHaveLength(0);
    const bull = await t.server.core.producers.queue(QUEUE_NAMES.bulkRoles).getJob(res.body.id);
    expect(bull?.attemptsMade).toBe(1);
    expect(await bull?.getState()).toBe('failed');
  });

  it('unknown or cross-tenant ids are 404 before anything is queued; bad bodies are 400; the last Owner is 409', async () => {
    const other = await bootstrapTenant(t.server.core, { tenant: `x-${randomBytes(4).toString('hex')}`, ownerEmail: 'x@other.test', ownerPassword: 'other-password-123' });
    const ids = await seedUsers(2);
    const jobsBefore = await countOf(sql`select count(*)::int as n from jobs where tenant_id = ${t.tenantId}`);
    const cross = await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users: [...ids, other!.owner.id] });
    expect(cross.status).toBe(404);
    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users: [crypto.randomUUID()] })).status).toBe(404);
    expect((await owner.post('/bulk/role-assignments', { role: 'no-such-role', action: 'add', users: ids })).status).toBe(404);
    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', filter: { group: crypto.randomUUID() } })).status).toBe(404);
    const jobsAfter = await countOf(sql`select count(*)::int as n from jobs where tenant_id = ${t.tenantId}`);
    expect(jobsAfter).toBe(jobsBefore);
    expect((await holders('viewer')).has(ids[0]!)).toBe(false);

    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users: ids, filter: { status: 'active' } })).status).toBe(400);
    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add' })).status).toBe(400);
    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users: [ids[0], ids[0]] })).status).toBe(400);
    expect((await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'grant', users: ids })).status).toBe(400);
    const last = await owner.post('/bulk/role-assignments', { role: 'owner', action: 'remove', users: [t.owner.id] });
    expect(last.status).toBe(409);
    expect(last.body.code).toBe('last_owner');
  });
});
