import type { Job } from 'bullmq';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobWorkers } from '../../src/app/workers.ts';
import { userRoles } from '../../src/db/schema/index.ts';
import { expiryJobId } from '../../src/jobs/expiry.ts';
import { QUEUE_NAMES, type ExpiryPayload } from '../../src/jobs/queues.ts';
import type { RunningWorkers } from '../../src/jobs/workers/index.ts';
import { expiryProcessor } from '../../src/jobs/workers/expiry.ts';
import { findRoleBySlug } from '../../src/queries/roles.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';

let t: TestTessera;
let owner: AdminApi;
let web: client.Configuration;
let workers: RunningWorkers;

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const app = await owner.post('/applications', { name: 'Console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.body.id, app.body.client_secret);
  workers = startJobWorkers(t.server.core);
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

/** `role.unassigned` events with reason "expired" for one target. */
async function expiredEvents(targetId: string): Promise<{ target: { type: string; id: string }; actor: { type: string }; data: Record<string, unknown> }[]> {
  const res = await owner.get(`/audit-events?action=role.unassigned&target_id=${targetId}`);
  expect(res.status).toBe(200);
  return (res.body.items as { target: { type: string; id: string }; actor: { type: string }; data: Record<string, unknown> }[]).filter((e) => e.data.reason === 'expired');
}

/** Polls until `check` stops throwing, for up to `ms`. */
async function eventually<T>(check: () => Promise<T>, ms = 5_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(100);
    }
  }
}

async function person(email: string) {
  const password = `password of ${email}`;
  const res = await owner.post('/users', { email, password });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, email, password };
}

const scopesAfterRefresh = async (refreshToken: string) => {
  const next = await client.refreshTokenGrant(web, refreshToken);
  return [...scopesOf(await verifyAccessToken(t.issuer, next.access_token))].sort();
};

describe('time-bound assignments expire (SPEC §5)', () => {
  it('a user assignment leaves the next token, its row and writes one role.unassigned at expiry', async () => {
    const u = await person('expiring@example.test');
    const role = await owner.post('/roles', { name: 'Short lived', capabilities: ['reports:view'] });
    const expiresAt = inMs(2_000);
    expect((await owner.put(`/users/${u.id}/roles/${role.body.slug}`, { expires_at: expiresAt })).status).toBe(200);
    // The same expiry again is no change and no second job.
    expect((await owner.put(`/users/${u.id}/roles/${role.body.slug}`, { expires_at: expiresAt })).status).toBe(200);
    const roleId = await roleIdOf(role.body.slug);
    const delayed = await t.server.core.producers.queue(QUEUE_NAMES.expiry).getDelayed();
    expect(delayed.filter((j) => (j.data as ExpiryPayload).kind === 'assignment' && j.id?.includes(u.id)).map((j) => j.id)).toEqual([
      expiryJobId('user', u.id, roleId, new Date(expiresAt)),
    ]);

    const { tokens } = await signIn(t.issuer, web, u, { scope: 'openid offline_access reports:view' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))]).toEqual(['reports:view']);

    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()));
    const [event] = await eventually(async () => {
      const events = await expiredEvents(u.id);
      expect(events).toHaveLength(1);
      return events;
    });
    expect(event).toMatchObject({ actor: { type: 'system' }, target: { type: 'user', id: u.id }, data: { role: role.body.slug, reason: 'expired', expires_at: expiresAt } });
    expect((await owner.get(`/users/${u.id}/roles`)).body.direct).toEqual([]);
    expect(await scopesAfterRefresh(tokens.refresh_token!)).toEqual([]);
    // A retry of the job (or a late sweep) finds nothing and writes nothing.
    await runProcessor({ kind: 'assignment', tenantId: t.tenantId, subject: 'user', subjectId: u.id, roleId, expiresAt });
    await runProcessor({ kind: 'sweep' });
    expect(await expiredEvents(u.id)).toHaveLength(1);
  });

  it('a changed expiry is the one that counts; the old job does nothing', async () => {
    const u = await person('extended@example.test');
    await owner.post('/roles', { name: 'Extended', capabilities: ['reports:view'] });
    expect((await owner.put(`/users/${u.id}/roles/extended`, { expires_at: inMs(1_000) })).status).toBe(200);
    const later = inMs(2_500);
    expect((await owner.put(`/users/${u.id}/roles/extended`, { expires_at: later })).status).toBe(200);
    await sleep(1_700);
    expect((await owner.get(`/users/${u.id}/roles`)).body.direct).toEqual([expect.objectContaining({ slug: 'extended', expires_at: later })]);
    expect(await expiredEvents(u.id)).toEqual([]);
    await eventually(async () => expect(await expiredEvents(u.id)).toEqual([expect.objectContaining({ data: { role: 'extended', reason: 'expired', expires_at: later } })]));
    expect((await owner.get(`/users/${u.id}/roles`)).body.direct).toEqual([]);
  });

  it('a group assignment expires the same way', async () => {
    const u = await person('grouped@example.test');
    const group = await owner.post('/groups', { name: 'Temporary' });
    await owner.post(`/groups/${group.body.id}/members`, { users: [u.id] });
    await owner.post('/roles', { name: 'Group short', capabilities: ['branding:view'] });
    const expiresAt = inMs(2_000);
    expect((await owner.put(`/groups/${group.body.id}/roles/group-short`, { expires_at: expiresAt })).status).toBe(200);
    expect((await owner.get(`/users/${u.id}/roles`)).body.capabilities).toContain('branding:view');
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()));
    await eventually(async () =>
      expect(await expiredEvents(group.body.id)).toEqual([
        expect.objectContaining({ actor: { type: 'system', id: null }, target: { type: 'group', id: group.body.id }, data: { role: 'group-short', reason: 'expired', expires_at: expiresAt } }),
      ]),
    );
    expect((await owner.get(`/groups/${group.body.id}/roles`)).body.direct).toEqual([]);
    expect((await owner.get(`/users/${u.id}/roles`)).body.capabilities).not.toContain('branding:view');
  });

  it('the sweep removes expired rows whose job never ran', async () => {
    const u = await person('swept@example.test');
    await owner.post('/roles', { name: 'Swept', capabilities: ['reports:view'] });
    const roleId = await roleIdOf('swept');
    const expiresAt = new Date(Date.now() - 60_000);
    await t.server.core.db.insert(userRoles).values({ tenantId: t.tenantId, userId: u.id, roleId, expiresAt });
    await runProcessor({ kind: 'sweep' });
    expect((await owner.get(`/users/${u.id}/roles`)).body.direct).toEqual([]);
    expect(await expiredEvents(u.id)).toEqual([expect.objectContaining({ actor: { type: 'system', id: null }, data: { role: 'swept', reason: 'expired', expires_at: expiresAt.toISOString() } })]);
    await runProcessor({ kind: 'sweep' });
    expect(await expiredEvents(u.id)).toHaveLength(1);
  });
});

async function roleIdOf(slug: string): Promise<string> {
  return (await findRoleBySlug(t.server.core.db, t.tenantId, slug))!.id;
}

/** Runs the expiry processor in-line, as a worker would (a stand-in job: these payloads never delay). */
async function runProcessor(data: ExpiryPayload): Promise<unknown> {
  return expiryProcessor({ expiry: t.server.core.services.expiry })({ data } as Job<ExpiryPayload>, 'inline');
}
