import { allOn, type Tx } from '../db/client.ts';
import { conflict, notFound, unprocessable } from '../errors/index.ts';
import { findClientById } from '../queries/clients.ts';
import { existingGroupIds } from '../queries/groups.ts';
import {
  countRoleHolders,
  deleteClientRole,
  deleteGroupRoles,
  deleteUserRoles,
  findRoleBySlug,
  lockOwners,
  upsertClientRole,
  upsertGroupRoles,
  upsertUserRoles,
  type RoleRow,
} from '../queries/roles.ts';
import { existingUserIds } from '../queries/users.ts';
import type { AuditInput, AuditLog } from './audit.ts';
import type { Access } from './roles.ts';

export const OWNER = 'owner';

export type Assignee = { type: 'user' | 'group' | 'client'; id: string };

/** Ids to add to or remove from a role. */
export interface AssigneeSet {
  users?: readonly string[];
  groups?: readonly string[];
  clients?: readonly string[];
}

export interface AssignmentResult {
  changed: { users: string[]; groups: string[]; clients: string[] };
  unchanged: { users: string[]; groups: string[]; clients: string[] };
}

/**
 * The mechanics of assigning and unassigning one role inside a transaction:
 * batched upserts and deletes, one audit event per change, and the last-Owner
 * rule. Authorisation (escalation) is the caller's job.
 */
export function createAssignmentCore(deps: { audit: AuditLog }) {
  const { audit } = deps;

  /** 404 (never 403) when any id is not in the tenant, before anything is touched. */
  async function requireAssignees(tx: Tx, tenantId: string, set: AssigneeSet): Promise<void> {
    const users = [...new Set(set.users ?? [])];
    const groups = [...new Set(set.groups ?? [])];
    const [u, g] = await allOn(tx, [() => existingUserIds(tx, tenantId, users), () => existingGroupIds(tx, tenantId, groups)] as const);
    if (u.size !== users.length) throw notFound('user');
    if (g.size !== groups.length) throw notFound('group');
    for (const id of new Set(set.clients ?? [])) {
      const client = await findClientById(tx, id);
      if (!client || client.tenantId !== tenantId) throw notFound('application');
      if (client.type !== 'service') throw unprocessable('not_a_service_account', 'roles can be assigned only to service applications');
    }
  }

  /** Fails the transaction with 409 last_owner when no active user holds Owner any more. */
  async function assertOwnersRemain(tx: Tx, tenantId: string): Promise<void> {
    const owner = await findRoleBySlug(tx, tenantId, OWNER);
    if (owner && (await countRoleHolders(tx, tenantId, owner.id)) === 0) {
      throw conflict('last_owner', 'this would remove the last Owner of the tenant');
    }
  }

  async function applyAssign(tx: Tx, access: Access, role: RoleRow, set: AssigneeSet, expiresAt: Date | null, parentId?: string): Promise<AssignmentResult> {
    const { tenantId } = access;
    const base = { tenantId, roleId: role.id, expiresAt };
    const users = [...new Set(set.users ?? [])];
    const groups = [...new Set(set.groups ?? [])];
    const clients = [...new Set(set.clients ?? [])];
    const changedUsers = await upsertUserRoles(tx, users.map((userId) => ({ ...base, userId })));
    const changedGroups = await upsertGroupRoles(tx, groups.map((groupId) => ({ ...base, groupId })));
    const changedClients: string[] = [];
    for (const clientId of clients) if (await upsertClientRole(tx, { ...base, clientId })) changedClients.push(clientId);
    const data = { role: role.slug, expires_at: expiresAt?.toISOString() ?? null };
    const events: AuditInput[] = [
      ...changedUsers.map((id) => ({ actor: access.actor, action: 'role.assigned', target: { type: 'user', id }, data, parentId })),
      ...changedGroups.map((id) => ({ actor: access.actor, action: 'role.assigned', target: { type: 'group', id }, data, parentId })),
      ...changedClients.map((id) => ({ actor: access.actor, action: 'role.assigned', target: { type: 'client', id }, data, parentId })),
    ];
    await audit.record(tx, tenantId, events);
    return result({ users, groups, clients }, { users: changedUsers, groups: changedGroups, clients: changedClients });
  }

  async function applyUnassign(tx: Tx, access: Access, role: RoleRow, set: AssigneeSet, reason?: string): Promise<AssignmentResult> {
    const { tenantId } = access;
    const users = [...new Set(set.users ?? [])];
    const groups = [...new Set(set.groups ?? [])];
    const clients = [...new Set(set.clients ?? [])];
    if (role.slug === OWNER) await lockOwners(tx, tenantId);
    const changedUsers = await deleteUserRoles(tx, role.id, users);
    const changedGroups = await deleteGroupRoles(tx, role.id, groups);
    const changedClients: string[] = [];
    for (const clientId of clients) if (await deleteClientRole(tx, role.id, clientId)) changedClients.push(clientId);
    if (role.slug === OWNER && (changedUsers.length || changedGroups.length)) await assertOwnersRemain(tx, tenantId);
    const data = { role: role.slug, ...(reason ? { reason } : {}) };
    await audit.record(tx, tenantId, [
      ...changedUsers.map((id) => ({ actor: access.actor, action: 'role.unassigned', target: { type: 'user', id }, data })),
      ...changedGroups.map((id) => ({ actor: access.actor, action: 'role.unassigned', target: { type: 'group', id }, data })),
      ...changedClients.map((id) => ({ actor: access.actor, action: 'role.unassigned', target: { type: 'client', id }, data })),
    ]);
    return result({ users, groups, clients }, { users: changedUsers, groups: changedGroups, clients: changedClients });
  }

  return { requireAssignees, assertOwnersRemain, applyAssign, applyUnassign };
}

function result(requested: Required<{ [K in keyof AssigneeSet]: string[] }>, changed: AssignmentResult['changed']): AssignmentResult {
  const not = (all: string[], some: string[]) => {
    const s = new Set(some);
    return all.filter((x) => !s.has(x));
  };
  return {
    changed,
    unchanged: { users: not(requested.users, changed.users), groups: not(requested.groups, changed.groups), clients: not(requested.clients, changed.clients) },
  };
}

