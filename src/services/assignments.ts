import { allOn, type Tx } from '../db/client.ts';
import { conflict, forbidden, notFound, unprocessable } from '../errors/index.ts';
import {
  copyAssignments,
  countRoleHolders,
  deleteAllUserRoles,
  deleteClientRoles,
  deleteGroupRoles,
  deleteUserRoles,
  upsertClientRoles,
  upsertGroupRoles,
  upsertUserRoles,
} from '../queries/assignments.ts';
import { deleteExpiredAssignment, type ExpiringAssignment } from '../queries/assignmentExpiry.ts';
import { findClientById } from '../queries/clients.ts';
import { existingGroupIds } from '../queries/groups.ts';
import { findRoleBySlug, lockOwners, type RoleRow } from '../queries/roles.ts';
import { existingUserIds, listUserDirectRoles } from '../queries/users.ts';
import { SYSTEM_ACTOR, type AuditInput, type AuditLog } from './audit.ts';
import { assertHolds, undominated, type Access, type Target } from './authority.ts';

export const OWNER = 'owner';

/** Enqueues the removal of one time-bound assignment at its expiry (jobs/expiry.ts implements it). Never throws. */
export type ScheduleExpiry = (tenantId: string, subject: 'user' | 'group' | 'client', subjectId: string, roleId: string, expiresAt: Date) => Promise<void>;

export type Assignee = { type: 'user' | 'group' | 'client'; id: string };

/** Ids to add to or remove from a role. */
export interface AssigneeSet {
  users?: readonly string[];
  groups?: readonly string[];
  clients?: readonly string[];
}

type Lists = { users: string[]; groups: string[]; clients: string[] };

export interface AssignmentResult {
  changed: Lists;
  unchanged: Lists;
}

/** A batch (bulk job) form also reports the subjects it refused, each with the reason. */
export interface BatchResult extends AssignmentResult {
  denied: { type: 'user' | 'client'; id: string; reason: 'escalation_denied' }[];
}

export interface ApplyOptions {
  /** Parent audit event (a bulk job) that each child event points to. */
  parentId?: string;
  /**
   * `throw` (the API): one undominated target refuses the whole change with 403.
   * `skip` (bulk jobs): those targets are left out and reported as denied.
   */
  onDenied?: 'throw' | 'skip';
}

const uniq = (ids: readonly string[] | undefined) => [...new Set(ids ?? [])];

function split(requested: Lists, changed: Lists): AssignmentResult {
  const not = (all: string[], some: string[]) => {
    const s = new Set(some);
    return all.filter((x) => !s.has(x));
  };
  return { changed, unchanged: { users: not(requested.users, changed.users), groups: not(requested.groups, changed.groups), clients: not(requested.clients, changed.clients) } };
}

/** 409 last_owner when no active user holds Owner permanently any more (SPEC §4: expiring Owners don't count). */
export async function assertOwnersRemain(tx: Tx, tenantId: string): Promise<void> {
  const owner = await findRoleBySlug(tx, tenantId, OWNER);
  if (owner && (await countRoleHolders(tx, tenantId, owner.id, 'permanent')) === 0) {
    throw conflict('last_owner', 'this would leave the tenant without a permanent Owner user');
  }
}

/**
 * Runs a change that may take Owner away, under the owners lock. The check
 * runs only when the tenant had a permanent Owner user before, so a tenant that
 * already lost its last one is not frozen by unrelated changes.
 */
export async function guardingOwners<T>(tx: Tx, tenantId: string, fn: () => Promise<T>): Promise<T> {
  await lockOwners(tx, tenantId);
  const owner = await findRoleBySlug(tx, tenantId, OWNER);
  const before = owner ? await countRoleHolders(tx, tenantId, owner.id, 'permanent') : 0;
  const out = await fn();
  if (before > 0) await assertOwnersRemain(tx, tenantId);
  return out;
}

/**
 * The assignment engine: the only writer of `user_roles`, `group_roles` and
 * `client_roles`, for the API, the console, bulk jobs, expiry, bootstrap and
 * the CLI alike. Every path gets the same authority checks (the actor holds
 * the role; no principal acts on a stronger one), the same rows, the same
 * last-Owner rule and the same audit events.
 */
export function createAssignmentEngine(deps: { audit: AuditLog; scheduleExpiry?: ScheduleExpiry | undefined }) {
  const { audit } = deps;

  /** 404 (never 403) when any id is not in the tenant, before anything is touched. */
  async function requireAssignees(tx: Tx, tenantId: string, set: AssigneeSet): Promise<void> {
    const users = uniq(set.users);
    const groups = uniq(set.groups);
    const [u, g] = await allOn(tx, [() => existingUserIds(tx, tenantId, users), () => existingGroupIds(tx, tenantId, groups)] as const);
    if (u.size !== users.length) throw notFound('user');
    if (g.size !== groups.length) throw notFound('group');
    for (const id of uniq(set.clients)) {
      const client = await findClientById(tx, id);
      if (!client || client.tenantId !== tenantId) throw notFound('application');
      if (client.type !== 'service') throw unprocessable('not_a_service_account', 'roles can be assigned only to service applications');
    }
  }

  /** The role-level rule, then the dominance rule over each user and client; returns what may be changed. */
  async function authorise(tx: Tx, access: Access, role: RoleRow, set: AssigneeSet, verb: string, onDenied: 'throw' | 'skip') {
    assertHolds(access, role.capabilities, `${verb} the role "${role.slug}"`);
    const lists: Lists = { users: uniq(set.users), groups: uniq(set.groups), clients: uniq(set.clients) };
    const targets: Target[] = [...lists.users.map((id) => ({ type: 'user' as const, id })), ...lists.clients.map((id) => ({ type: 'client' as const, id }))];
    const denied = await undominated(tx, access, targets);
    if (denied.size && onDenied === 'throw') {
      throw forbidden('escalation_denied', `you can't ${verb} the role "${role.slug}" for a principal that holds capabilities you don't hold`, {
        missing: [...new Set([...denied.values()].flat())].sort(),
      });
    }
    const allowed: Lists = { users: lists.users.filter((id) => !denied.has(`user:${id}`)), groups: lists.groups, clients: lists.clients.filter((id) => !denied.has(`client:${id}`)) };
    const refused: BatchResult['denied'] = [...denied.keys()].map((key) => {
      const [type, id] = key.split(/:(.*)/s) as ['user' | 'client', string];
      return { type, id, reason: 'escalation_denied' as const };
    });
    return { lists, allowed, refused };
  }

  const events = (access: Access, action: string, changed: Lists, data: Record<string, unknown>, parentId?: string): AuditInput[] => [
    ...changed.users.map((id) => ({ actor: access.actor, action, target: { type: 'user', id }, data, parentId })),
    ...changed.groups.map((id) => ({ actor: access.actor, action, target: { type: 'group', id }, data, parentId })),
    ...changed.clients.map((id) => ({ actor: access.actor, action, target: { type: 'client', id }, data, parentId })),
  ];

  /** Assigns `role` (optionally until `expiresAt`); idempotent; one `role.assigned` per row inserted or changed. */
  async function assign(tx: Tx, access: Access, role: RoleRow, set: AssigneeSet, expiresAt: Date | null, opts: ApplyOptions = {}): Promise<BatchResult> {
    const { tenantId } = access;
    const { lists, allowed, refused } = await authorise(tx, access, role, set, 'assign', opts.onDenied ?? 'throw');
    const run = async (): Promise<Lists> => {
      const base = { tenantId, roleId: role.id, expiresAt };
      return {
        users: await upsertUserRoles(tx, allowed.users.map((userId) => ({ ...base, userId }))),
        groups: await upsertGroupRoles(tx, allowed.groups.map((groupId) => ({ ...base, groupId }))),
        clients: await upsertClientRoles(tx, allowed.clients.map((clientId) => ({ ...base, clientId }))),
      };
    };
    // An Owner assignment with an expiry may turn the last permanent Owner into an expiring one.
    const changed = role.slug === OWNER && expiresAt ? await guardingOwners(tx, tenantId, run) : await run();
    await audit.record(tx, tenantId, events(access, 'role.assigned', changed, { role: role.slug, expires_at: expiresAt?.toISOString() ?? null }, opts.parentId));
    return { ...split(lists, changed), denied: refused };
  }

  /** Removes `role`; idempotent; one `role.unassigned` per row removed; 409 last_owner if no permanent Owner remains. */
  async function unassign(tx: Tx, access: Access, role: RoleRow, set: AssigneeSet, opts: ApplyOptions = {}): Promise<BatchResult> {
    const { tenantId } = access;
    const { lists, allowed, refused } = await authorise(tx, access, role, set, 'unassign', opts.onDenied ?? 'throw');
    const run = async (): Promise<Lists> => ({
      users: await deleteUserRoles(tx, role.id, allowed.users),
      groups: await deleteGroupRoles(tx, role.id, allowed.groups),
      clients: await deleteClientRoles(tx, role.id, allowed.clients),
    });
    const changed = role.slug === OWNER ? await guardingOwners(tx, tenantId, run) : await run();
    await audit.record(tx, tenantId, events(access, 'role.unassigned', changed, { role: role.slug }, opts.parentId));
    return { ...split(lists, changed), denied: refused };
  }

  /** Every direct role of one user goes (remove-access); the caller has checked dominance over the user. */
  async function unassignAllOf(tx: Tx, access: Access, userId: string) {
    const direct = await listUserDirectRoles(tx, userId);
    for (const role of direct) assertHolds(access, role.capabilities, `remove the role "${role.slug}"`);
    await deleteAllUserRoles(tx, userId);
    return direct;
  }

  /** Moves every assignment of `from` to `to` (delete with reassign); the caller audits the deletion. */
  async function reassignAll(tx: Tx, access: Access, from: RoleRow, to: RoleRow): Promise<void> {
    assertHolds(access, to.capabilities, `assign the role "${to.slug}"`);
    await copyAssignments(tx, from.id, to.id);
  }

  /** Removes assignments that have expired (SPEC §5), each with `role.unassigned` and reason "expired"; returns how many went. */
  async function expire(tx: Tx, tenantId: string, items: (Omit<ExpiringAssignment, 'expiresAt' | 'tenantId'> & { expiresAt?: Date })[]): Promise<number> {
    const out: AuditInput[] = [];
    for (const a of items) {
      const gone = await deleteExpiredAssignment(tx, a);
      if (!gone) continue;
      out.push({ actor: SYSTEM_ACTOR, action: 'role.unassigned', target: { type: a.subject, id: a.subjectId }, data: { role: gone.slug, reason: 'expired', expires_at: gone.expiresAt.toISOString() } });
    }
    await audit.record(tx, tenantId, out);
    return out.length;
  }

  /** After commit: one delayed removal per assignment whose expiry was set or changed. */
  async function scheduleExpiries(tenantId: string, roleId: string, changed: Lists, expiresAt: Date | null): Promise<void> {
    const schedule = deps.scheduleExpiry;
    if (!expiresAt || !schedule) return;
    const subjects = [...changed.users.map((id) => ['user', id] as const), ...changed.groups.map((id) => ['group', id] as const), ...changed.clients.map((id) => ['client', id] as const)];
    await Promise.all(subjects.map(([subject, id]) => schedule(tenantId, subject, id, roleId, expiresAt)));
  }

  return { requireAssignees, assign, unassign, unassignAllOf, reassignAll, expire, scheduleExpiries };
}

export type AssignmentEngine = ReturnType<typeof createAssignmentEngine>;
