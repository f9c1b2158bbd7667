/* eslint-disable @typescript-eslint/no-explicit-any -- rows and bodies are whatever the database and API return */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES } from '../../src/catalogue/index.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { reachOf, type Target } from '../../src/services/authority.ts';
import { ownerAccess } from '../support/access.ts';
import { adminApi, serviceToken, type AdminApi } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/**
 * CHECKLIST 27, as a property: random sequences of admin calls by random
 * non-Owner actors in a fresh tenant. After every step,
 *  (a) the credentials that can mint a token carrying a `tenant:*` capability
 *      are exactly those of before (same Owner users with the same password
 *      hashes, same Owner clients with the same secret hashes), and
 *  (b) every capability any principal gained (its entitlement, or what a
 *      first-party application may obtain) was held by the actor of the call.
 * The seed is printed on failure; FC_SEED replays it.
 */

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

const ROLES = ['owner', 'administrator', 'operator', 'viewer', 'custom'] as const;
const ASSIGNABLE = CAPABILITIES.filter((c) => !c.reserved).map((c) => c.id);

interface World {
  tenantId: string;
  actors: { api: AdminApi; clientId: string; scopes: Set<string> }[];
  users: string[];
  clients: string[];
  groups: string[];
}

const q = async (query: ReturnType<typeof sql>): Promise<any[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: any[] }).rows;

/** What every user and client of the tenant holds now, first-party reach included. */
async function reach(tenantId: string): Promise<Map<string, string[]>> {
  const users = await q(sql`select id from users where tenant_id = ${tenantId}`);
  const clients = await q(sql`select id, type, first_party, allowed_scopes from clients where tenant_id = ${tenantId}`);
  const targets: Target[] = [...users.map((u) => ({ type: 'user' as const, id: u.id })), ...clients.map((c) => ({ type: 'client' as const, id: c.id }))];
  const firstParty = new Map<string, string[] | null>(clients.filter((c) => c.first_party && c.type !== 'service').map((c) => [c.id, c.allowed_scopes]));
  return reachOf(t.server.core.db, tenantId, targets, firstParty);
}

/** Credentials that can mint a token with a `tenant:*` capability. */
async function ownerCredentials(tenantId: string): Promise<string[]> {
  const r = await reach(tenantId);
  const strong = (key: string) => (r.get(key) ?? []).some((c) => c.startsWith('tenant:'));
  const users = await q(sql`select id, password_hash from users where tenant_id = ${tenantId} and status = 'active' and password_hash is not null`);
  const clients = await q(sql`select id, secret_hash from clients where tenant_id = ${tenantId} and not disabled and secret_hash is not null and type = 'service'`);
  return [...users.filter((u) => strong(`user:${u.id}`)).map((u) => `user ${u.id} ${u.password_hash}`), ...clients.filter((c) => strong(`client:${c.id}`)).map((c) => `client ${c.id} ${c.secret_hash}`)].sort();
}

/** A fresh tenant: an Owner user and client (bootstrap), users and clients holding each role, groups, and four non-Owner actors. */
async function makeWorld(): Promise<World> {
  const slug = `p-${randomBytes(5).toString('hex')}`;
  const boot = (await bootstrapTenant(t.server.core, { tenant: slug }))!;
  const tenantId = boot.tenant.id;
  const access = ownerAccess(tenantId);
  const { services } = t.server.core;
  await services.roles.create(access, { name: 'Custom', slug: 'custom', capabilities: ['members:change_roles', 'users:view', 'users:suspend', 'applications:rotate_secret', 'users:reset_password'] });
  const users = [boot.owner.id];
  for (const role of ['owner', 'administrator', 'operator', null] as const) {
    const u = await services.users.create(access, { email: `${role ?? 'nobody'}@${slug}.test`, password: `password ${randomBytes(6).toString('hex')}` });
    if (role) await services.roles.assign(access, role, { type: 'user', id: u.id });
    users.push(u.id);
  }
  const clients = [boot.client.id];
  for (const role of ['owner', 'administrator'] as const) {
    const c = await services.clients.create(access, { name: `${role} bot`, type: 'service' });
    await services.roles.assign(access, role, { type: 'client', id: c.client.id });
    clients.push(c.client.id);
  }
  const owners = await services.groups.createGroup(access, { name: 'Owners' });
  await services.roles.assign(access, 'owner', { type: 'group', id: owners.id });
  await services.groups.addMember(access, owners.id, users[1]!);
  const plain = await services.groups.createGroup(access, { name: 'Plain' });
  const actors: World['actors'] = [];
  for (const role of ['administrator', 'operator', 'viewer', 'custom']) {
    const c = await services.clients.create(access, { name: `${role} actor`, type: 'service' });
    await services.roles.assign(access, role, { type: 'client', id: c.client.id });
    const token = await serviceToken(t, c.client.id, c.secret!);
    const scopes = new Set(String(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).scope).split(' '));
    actors.push({ api: adminApi(t, token), clientId: c.client.id, scopes });
    clients.push(c.client.id);
  }
  return { tenantId, actors, users, clients, groups: [owners.id, plain.id] };
}

type Step = { actor: number; op: string; a: number; b: number; role: (typeof ROLES)[number]; caps: string[]; expiring: boolean };

/** One admin call, chosen by `step`, over HTTP as the actor. */
function call(w: World, s: Step) {
  const api = w.actors[s.actor % w.actors.length]!.api;
  const user = w.users[s.a % w.users.length]!;
  const clientId = w.clients[s.a % w.clients.length]!;
  const group = w.groups[s.b % w.groups.length]!;
  const expires = s.expiring ? { expires_at: new Date(Date.now() + 3_600_000).toISOString() } : {};
  switch (s.op) {
    case 'reset-password': return api.post(`/users/${user}/password`, { password: 'an attacker’s password' });
    case 'suspend': return api.post(`/users/${user}/suspend`);
    case 'delete-user': return api.delete(`/users/${user}`);
    case 'remove-access': return api.post(`/users/${user}/remove-access`);
    case 'assign-user': return api.put(`/users/${user}/roles/${s.role}`, expires);
    case 'unassign-user': return api.delete(`/users/${user}/roles/${s.role}`);
    case 'assign-client': return api.put(`/applications/${clientId}/roles/${s.role}`, expires);
    case 'assign-group': return api.put(`/groups/${group}/roles/${s.role}`, expires);
    case 'unassign-group': return api.delete(`/groups/${group}/roles/${s.role}`);
    case 'add-member': return api.post(`/groups/${group}/members`, { users: [user] });
    case 'remove-member': return api.delete(`/groups/${group}/members/${user}`);
    case 'nest': return api.post(`/groups/${w.groups[s.a % w.groups.length]}/subgroups`, { groups: [group] });
    case 'rotate-secret': return api.post(`/applications/${clientId}/rotate-secret`);
    case 'disable-client': return api.post(`/applications/${clientId}/disable`);
    case 'edit-role': return api.patch('/roles/custom', { capabilities: s.caps.length ? s.caps : ['users:view'] });
    case 'first-party': return api.post('/applications', { name: 'Phish', type: 'web', first_party: true, redirect_uris: ['https://evil.example/cb'], ...(s.caps.length ? { allowed_scopes: s.caps } : {}) });
    case 'edit-client': return api.patch(`/applications/${clientId}`, { allowed_scopes: s.caps.length ? s.caps : null });
    default: throw new Error(s.op);
  }
}

const OPS = ['reset-password', 'suspend', 'delete-user', 'remove-access', 'assign-user', 'unassign-user', 'assign-client', 'assign-group', 'unassign-group', 'add-member', 'remove-member', 'nest', 'rotate-secret', 'disable-client', 'edit-role', 'first-party', 'edit-client'];
const stepArb: fc.Arbitrary<Step> = fc.record({
  actor: fc.nat(3),
  op: fc.constantFrom(...OPS),
  a: fc.nat(20),
  b: fc.nat(20),
  role: fc.constantFrom(...ROLES),
  caps: fc.subarray(ASSIGNABLE, { maxLength: 6 }),
  expiring: fc.boolean(),
});

describe('no principal acts on a stronger one, as a property (CHECKLIST 27)', () => {
  it('random admin calls by non-Owner actors never change who can mint tenant:* tokens, and nobody gains what the actor lacked', async () => {
    const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
    const runs = Number(process.env.FC_RUNS ?? 25);
    let steps = 0;
    let allowed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 4, maxLength: 12 }), async (sequence) => {
        const w = await makeWorld();
        const credentials = await ownerCredentials(w.tenantId);
        for (const s of sequence) {
          const actor = w.actors[s.actor % w.actors.length]!;
          const before = await reach(w.tenantId);
          const held = new Set((before.get(`client:${actor.clientId}`) ?? []).filter((c) => actor.scopes.has(c)));
          const res = await call(w, s);
          expect(res.status, `${s.op}: ${JSON.stringify(res.body)}`).toBeLessThan(500);
          if (s.op === 'first-party' && res.status === 201) w.clients.push(res.body.id);
          steps += 1;
          if (res.status < 300) allowed += 1;
          const after = await reach(w.tenantId);
          for (const [key, caps] of after) {
            const had = new Set(before.get(key) ?? []);
            const gained = caps.filter((c) => !had.has(c) && !held.has(c));
            expect(gained, `${key} gained capabilities the actor didn't hold through ${JSON.stringify(s)}`).toEqual([]);
          }
          expect(await ownerCredentials(w.tenantId), `owner credentials changed through ${JSON.stringify(s)}`).toEqual(credentials);
        }
      }),
      { seed, numRuns: runs, endOnFailure: true },
    );
    expect(steps).toBeGreaterThan(runs * 4 - 1);
    // The property means something only if actors also did things they were allowed to.
    expect(allowed).toBeGreaterThan(0);
  }, 600_000);
});
