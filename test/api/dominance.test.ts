/* eslint-disable @typescript-eslint/no-explicit-any -- rows and bodies are whatever the database and API return */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeUnderRequires, SYSTEM_ROLES } from '../../src/catalogue/index.ts';
import { ownerAccess } from '../support/access.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi, type ApiResponse } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/**
 * CHECKLIST 27 and SPEC §4 "No principal acts on a stronger one", over HTTP:
 * every actor × every target × every target-affecting operation. The expected
 * outcome is computed from the rule (the route's capability, the capabilities
 * the operation hands out, and everything the target holds), never written
 * cell by cell. Each refusal must leave the target and the audit log as they were.
 */

const SYSTEM = ['owner', 'administrator', 'operator', 'viewer'] as const;
type SystemRole = (typeof SYSTEM)[number];
const capsOf = (slug: SystemRole) => SYSTEM_ROLES.find((r) => r.slug === slug)!.capabilities as readonly string[];
const MANAGER = closeUnderRequires(['members:change_roles', 'users:edit', 'applications:edit', 'users:view']);
/** A custom role every role manager may hand out: it needs only `users:view`. */
const PROBE = 'probe';

interface Actor {
  name: string;
  held: ReadonlySet<string>;
  api: AdminApi;
}
interface Target {
  kind: 'user' | 'client';
  role: SystemRole;
  id: string;
}
interface Op {
  name: string;
  kind: 'user' | 'client';
  /** The route's capabilities (SPEC §8). */
  route: string[];
  /** Capabilities the operation hands out or takes away besides the target's (a role's). */
  extra?: string[];
  call(api: AdminApi, id: string): Promise<ApiResponse>;
  /** Statuses that mean "allowed"; a session that isn't there is 404 once the check has passed. */
  ok?: number[];
}

let t: TestTessera;
let owner: AdminApi;
let emptyGroup: string;
const actors: Actor[] = [];

const q = async (query: ReturnType<typeof sql>): Promise<any[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: any[] }).rows;
const auditHead = async () => (await q(sql`select coalesce(max(seq), 0)::int as n from audit_events where tenant_id = ${t.tenantId}`))[0].n as number;

/** Everything about a target that an operation could change. */
async function snapshot(target: Target): Promise<string> {
  if (target.kind === 'user') {
    const user = await q(sql`select email, display_name, status, password_hash from users where id = ${target.id}`);
    const roles = await q(sql`select role_id, expires_at from user_roles where user_id = ${target.id} order by role_id`);
    const groups = await q(sql`select group_id from group_members where user_id = ${target.id} order by group_id`);
    return JSON.stringify({ user, roles, groups });
  }
  const c = await q(sql`select name, disabled, secret_hash, redirect_uris, first_party, allowed_scopes from clients where id = ${target.id}`);
  const roles = await q(sql`select role_id, expires_at from client_roles where client_id = ${target.id} order by role_id`);
  return JSON.stringify({ c, roles });
}

const OPS: Op[] = [
  { name: 'reset password', kind: 'user', route: ['users:reset_password'], call: (a, id) => a.post(`/users/${id}/password`, { password: `new password ${randomBytes(6).toString('hex')}` }) },
  { name: 'suspend', kind: 'user', route: ['users:suspend'], call: (a, id) => a.post(`/users/${id}/suspend`) },
  { name: 're-enable', kind: 'user', route: ['users:suspend'], call: (a, id) => a.post(`/users/${id}/unsuspend`) },
  { name: 'edit', kind: 'user', route: ['users:edit'], call: (a, id) => a.patch(`/users/${id}`, { display_name: 'Renamed' }) },
  { name: 'delete', kind: 'user', route: ['users:delete'], call: (a, id) => a.delete(`/users/${id}`) },
  { name: 'remove access', kind: 'user', route: ['members:remove'], call: (a, id) => a.post(`/users/${id}/remove-access`) },
  { name: 'revoke all sessions', kind: 'user', route: ['users:revoke_sessions'], call: (a, id) => a.delete(`/users/${id}/sessions`) },
  { name: 'revoke one session', kind: 'user', route: ['users:revoke_sessions'], call: (a, id) => a.delete(`/users/${id}/sessions/no-such-session`), ok: [404] },
  { name: 'assign a role', kind: 'user', route: ['members:change_roles'], extra: ['users:view'], call: (a, id) => a.put(`/users/${id}/roles/${PROBE}`, {}) },
  { name: 'unassign its role', kind: 'user', route: ['members:change_roles'], extra: [...capsOf('viewer')], call: (a, id) => a.delete(`/users/${id}/roles/viewer`) },
  { name: 'add to a group', kind: 'user', route: ['members:change_roles'], call: (a, id) => a.post(`/groups/${emptyGroup}/members`, { users: [id] }) },
  { name: 'rotate secret', kind: 'client', route: ['applications:rotate_secret'], call: (a, id) => a.post(`/applications/${id}/rotate-secret`) },
  { name: 'disable', kind: 'client', route: ['applications:disable'], call: (a, id) => a.post(`/applications/${id}/disable`) },
  { name: 're-enable', kind: 'client', route: ['applications:disable'], call: (a, id) => a.post(`/applications/${id}/enable`) },
  { name: 'edit', kind: 'client', route: ['applications:edit'], call: (a, id) => a.patch(`/applications/${id}`, { name: 'Renamed' }) },
  { name: 'delete', kind: 'client', route: ['applications:delete'], call: (a, id) => a.delete(`/applications/${id}`) },
  { name: 'assign a role', kind: 'client', route: ['members:change_roles'], extra: ['users:view'], call: (a, id) => a.put(`/applications/${id}/roles/${PROBE}`, {}) },
];

/** A fresh target holding one system role, made through the services with an Owner's authority. */
async function makeTarget(kind: 'user' | 'client', role: SystemRole): Promise<Target> {
  const { services } = t.server.core;
  const access = ownerAccess(t.tenantId);
  const id =
    kind === 'user'
      ? (await services.users.create(access, { email: `${role}-${randomBytes(5).toString('hex')}@target.test` })).id
      : (await services.clients.create(access, { name: `${role} target`, type: 'service' })).client.id;
  await services.roles.assign(access, role, { type: kind, id });
  return { kind, role, id };
}

/** Allowed exactly when the actor holds the route's capabilities, what the operation hands out, and all the target holds. */
const expectedAllowed = (actor: Actor, op: Op, target: Target) => [...op.route, ...(op.extra ?? []), ...capsOf(target.role)].every((c) => actor.held.has(c));

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  expect((await owner.post('/roles', { name: 'Probe', slug: PROBE, capabilities: ['users:view'] })).status).toBe(201);
  emptyGroup = (await owner.post('/groups', { name: 'Empty' })).body.id;
  const app = await owner.post('/applications', { name: 'Admin sign-in', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  const web: client.Configuration = await discover(t.issuer, app.body.id, app.body.client_secret);
  expect((await owner.post('/roles', { name: 'Role manager', capabilities: MANAGER })).status).toBe(201);
  const { services } = t.server.core;
  const access = ownerAccess(t.tenantId);
  for (const [name, role, caps] of [...SYSTEM.map((r) => [r, r, capsOf(r)] as const), ['role-manager', 'role-manager', MANAGER] as const]) {
    // A user signed in through the login form, with every capability of the role in the token.
    const email = `${name}-actor@example.test`;
    const password = `password of ${name} ${randomBytes(4).toString('hex')}`;
    const user = await services.users.create(access, { email, password });
    await services.roles.assign(access, role, { type: 'user', id: user.id });
    const { tokens } = await signIn(t.issuer, web, { email, password }, { scope: `openid ${caps.join(' ')}` });
    actors.push({ name: `user ${name}`, held: new Set(caps), api: adminApi(t, tokens.access_token) });
    if (name === 'role-manager') continue;
    // A service client holding the role: client credentials carry all it is entitled to.
    const svc = await services.clients.create(access, { name: `${name} actor`, type: 'service' });
    await services.roles.assign(access, role, { type: 'client', id: svc.client.id });
    actors.push({ name: `client ${name}`, held: new Set(caps), api: adminApi(t, await serviceToken(t, svc.client.id, svc.secret!)) });
  }
}, 120_000);
afterAll(() => t?.close());

describe('the dominance matrix (CHECKLIST 27)', () => {
  it.each([
    'user owner',
    'user administrator',
    'user operator',
    'user viewer',
    'user role-manager',
    'client owner',
    'client administrator',
    'client operator',
    'client viewer',
  ])('%s: each operation on each target is allowed exactly when the rule says; refusals change nothing', async (name) => {
    const actor = actors.find((a) => a.name === name)!;
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const op of OPS) {
      for (const role of SYSTEM) {
        const target = await makeTarget(op.kind, role);
        const allowed = expectedAllowed(actor, op, target);
        const [before, head] = [await snapshot(target), await auditHead()];
        const res = await op.call(actor.api, target.id);
        const okStatus = res.status < 300 || (op.ok ?? []).includes(res.status);
        const label = `${op.kind} ${op.name} on a ${role}`;
        outcomes.push(`${label}: ${okStatus ? 'allowed' : `${res.status} ${res.body?.code}`}`);
        const forbiddenCode = op.route.every((c) => actor.held.has(c)) ? 'escalation_denied' : 'insufficient_scope';
        expected.push(`${label}: ${allowed ? 'allowed' : `403 ${forbiddenCode}`}`);
        if (!allowed) {
          expect({ label, after: await snapshot(target), audit: await auditHead() }).toEqual({ label, after: before, audit: head });
        }
      }
    }
    expect(outcomes).toEqual(expected);
  }, 120_000);
});
