import { randomUUID } from 'node:crypto';
import { closeUnderRequires } from '../catalogue/index.ts';
import type { Database, Tx } from '../db/client.ts';
import { reachableGroups } from '../entitlements/resolve.ts';
import { conflict, notFound, unprocessable } from '../errors/index.ts';
import { loadTenantGraph } from '../queries/entitlements.ts';
import {
  deleteEdge,
  deleteGroup,
  deleteMembers,
  existingGroupIds,
  findGroupById,
  findGroupByName,
  groupLinks,
  insertEdge,
  insertGroup,
  insertMembers,
  isAncestorOrSelf,
  listRolesOfGroups,
  lockGroupGraph,
  lockGroupGraphShared,
  updateGroup,
  type GroupRow,
} from '../queries/groups.ts';
import { lockOwners } from '../queries/roles.ts';
import { existingUserIds } from '../queries/users.ts';
import type { AuditLog } from './audit.ts';
import { assertOwnersRemain } from './assignments.ts';
import { assertDominates, assertHolds, type Access } from './authority.ts';
import { subjectsScope, type TenantChange } from './change.ts';
import { createGroupReads, requireGroupView, type GroupView } from './groupReads.ts';
import type { AssignmentResult, RoleService } from './roles.ts';

export const GROUP_NAME_MAX = 100;
export const GROUP_DESCRIPTION_MAX = 200;

/** What an idempotent batch change did: ids changed now, and ids that were already so. */
export interface ChangeResult {
  changed: string[];
  unchanged: string[];
}

const unique = (ids: readonly string[]) => [...new Set(ids)];
/** Both lists in request order, so the answer doesn't depend on the order rows come back in. */
const split = (requested: string[], changed: string[]): ChangeResult => {
  const done = new Set(changed);
  return { changed: requested.filter((id) => done.has(id)), unchanged: requested.filter((id) => !done.has(id)) };
};

function validateName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > GROUP_NAME_MAX) throw unprocessable('invalid_name', `name must be 1-${GROUP_NAME_MAX} characters after trimming`);
  return trimmed;
}

function validateDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > GROUP_DESCRIPTION_MAX) throw unprocessable('invalid_description', `description must be at most ${GROUP_DESCRIPTION_MAX} characters`);
  return description;
}

const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; cause?: { code?: string } };
  return err.code === '23505' || err.cause?.code === '23505';
};

const nameTaken = (name: string) => conflict('group_name_taken', `a group named "${name}" already exists (names are compared ignoring case)`);

/**
 * Every capability membership of `groupId` confers now: the unexpired roles of
 * the group and of all its ancestors, closed under `requires`.
 */
export async function conferredCapabilities(tx: Tx, tenantId: string, groupId: string, graphOf?: Access['graph']): Promise<string[]> {
  const graph = graphOf ? await graphOf() : await loadTenantGraph(tx, tenantId);
  const now = Date.now();
  const caps = new Set<string>();
  for (const g of reachableGroups(graph, [groupId])) {
    for (const link of graph.groupRoles.get(g) ?? []) {
      if (link.expiresAt !== null && link.expiresAt <= now) continue;
      for (const c of graph.roleCapabilities.get(link.roleId) ?? []) caps.add(c);
    }
  }
  return closeUnderRequires(caps);
}

/** Groups, members and nesting (SPEC §2, §5). Membership changes are assignments: they obey the escalation rules. */
export function createGroupService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService }) {
  const { change, audit, roles } = deps;

  async function requireGroup(tx: Tx, tenantId: string, id: string): Promise<GroupRow> {
    const group = await findGroupById(tx, tenantId, id);
    if (!group) throw notFound('group');
    return group;
  }

  /** Changing who is in (or under) a group hands out or takes away what it confers: only with all of it held. */
  async function assertMayChangeMembership(tx: Tx, access: Access, groupId: string, what: string): Promise<void> {
    assertHolds(access, await conferredCapabilities(tx, access.tenantId, groupId, access.graph), what);
  }

  const service = {
    ...createGroupReads({ change }),

    async createGroup(access: Access, input: { name: string; description?: string | null | undefined }): Promise<GroupView> {
      const name = validateName(input.name);
      const description = validateDescription(input.description);
      const { tenantId } = access;
      return change(tenantId, async (tx) => {
        if (await findGroupByName(tx, tenantId, name)) throw nameTaken(name);
        let group: GroupRow;
        try {
          // A savepoint, so a concurrent clash on the unique index still reports 409.
          group = await tx.transaction((sp) => insertGroup(sp, { id: randomUUID(), tenantId, name, description }));
        } catch (e) {
          if (isUniqueViolation(e)) throw nameTaken(name);
          throw e;
        }
        await audit.record(tx, tenantId, { actor: access.actor, action: 'group.created', target: { type: 'group', id: group.id }, data: { name, description } });
        return requireGroupView(tx, tenantId, group.id);
      });
    },

    async updateGroup(access: Access, id: string, patch: { name?: string | undefined; description?: string | null | undefined }): Promise<GroupView> {
      const name = patch.name === undefined ? undefined : validateName(patch.name);
      const description = patch.description === undefined ? undefined : validateDescription(patch.description);
      const { tenantId } = access;
      return change(tenantId, async (tx) => {
        const before = await requireGroup(tx, tenantId, id);
        if (name !== undefined && name.toLowerCase() !== before.name.toLowerCase() && (await findGroupByName(tx, tenantId, name))) throw nameTaken(name);
        let after: GroupRow;
        try {
          after = await tx.transaction((sp) => updateGroup(sp, id, { ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}) }));
        } catch (e) {
          if (isUniqueViolation(e)) throw nameTaken(name ?? before.name);
          throw e;
        }
        const pick = (g: GroupRow) => ({ name: g.name, description: g.description });
        await audit.record(tx, tenantId, { actor: access.actor, action: 'group.updated', target: { type: 'group', id }, data: { before: pick(before), after: pick(after) } });
        return requireGroupView(tx, tenantId, id);
      });
    },

    /** Deletes a group; its members (and members of its subgroups) lose what it conferred, so that must be held. */
    async deleteGroup(access: Access, id: string): Promise<void> {
      const { tenantId } = access;
      await change(tenantId, async (tx) => {
        const group = await requireGroup(tx, tenantId, id);
        await lockGroupGraph(tx, tenantId);
        await lockOwners(tx, tenantId);
        await assertMayChangeMembership(tx, access, id, 'delete this group');
        const links = await groupLinks(tx, id);
        const groupRoles = await listRolesOfGroups(tx, [id]);
        await deleteGroup(tx, id);
        await assertOwnersRemain(tx, tenantId);
        await audit.record(tx, tenantId, {
          actor: access.actor,
          action: 'group.deleted',
          target: { type: 'group', id },
          data: {
            name: group.name,
            description: group.description,
            prior: {
              ...links,
              roles: groupRoles.map((r) => ({ role: r.slug, assigned_at: new Date(r.assigned_at).toISOString(), expires_at: r.expires_at ? new Date(r.expires_at).toISOString() : null })),
            },
          },
        });
      });
    },

    /** Adds users to a group; idempotent. 404 if the group or any user is not in the tenant. */
    async addMembers(access: Access, groupId: string, userIds: readonly string[]): Promise<ChangeResult> {
      const { tenantId } = access;
      const ids = unique(userIds);
      return change(tenantId, async (tx) => {
        await requireGroup(tx, tenantId, groupId);
        if ((await existingUserIds(tx, tenantId, ids)).size !== ids.length) throw notFound('user');
        await lockGroupGraphShared(tx, tenantId);
        await assertMayChangeMembership(tx, access, groupId, 'add members to this group');
        await assertDominates(tx, access, ids.map((id) => ({ type: 'user' as const, id })), 'change the group memberships of this user');
        const changed = await insertMembers(tx, tenantId, groupId, ids);
        await audit.record(
          tx,
          tenantId,
          changed.map((user) => ({ actor: access.actor, action: 'group.member_added', target: { type: 'group', id: groupId }, data: { user } })),
        );
        return split(ids, changed);
      }, subjectsScope(ids));
    },

    /** Removes users from a group; idempotent; 409 last_owner if that leaves no Owner. */
    async removeMembers(access: Access, groupId: string, userIds: readonly string[]): Promise<ChangeResult> {
      const { tenantId } = access;
      const ids = unique(userIds);
      return change(tenantId, async (tx) => {
        await requireGroup(tx, tenantId, groupId);
        if ((await existingUserIds(tx, tenantId, ids)).size !== ids.length) throw notFound('user');
        await lockGroupGraphShared(tx, tenantId);
        await lockOwners(tx, tenantId);
        await assertMayChangeMembership(tx, access, groupId, 'remove members from this group');
        await assertDominates(tx, access, ids.map((id) => ({ type: 'user' as const, id })), 'change the group memberships of this user');
        const changed = await deleteMembers(tx, groupId, ids);
        if (changed.length) await assertOwnersRemain(tx, tenantId);
        await audit.record(
          tx,
          tenantId,
          changed.map((user) => ({ actor: access.actor, action: 'group.member_removed', target: { type: 'group', id: groupId }, data: { user } })),
        );
        return split(ids, changed);
      }, subjectsScope(ids));
    },

    /** Nests groups under `parentId`; 409 group_cycle if any would end up below itself. */
    async addSubgroups(access: Access, parentId: string, childIds: readonly string[]): Promise<ChangeResult> {
      const { tenantId } = access;
      const ids = unique(childIds);
      return change(tenantId, async (tx) => {
        await requireGroup(tx, tenantId, parentId);
        if ((await existingGroupIds(tx, tenantId, ids)).size !== ids.length) throw notFound('group');
        await lockGroupGraph(tx, tenantId);
        // The children's members gain what the parent confers.
        await assertMayChangeMembership(tx, access, parentId, 'nest groups under this group');
        const changed: string[] = [];
        // One edge at a time, so a cycle formed within the batch is seen too.
        for (const childId of ids) {
          if (await isAncestorOrSelf(tx, parentId, childId)) throw conflict('group_cycle', 'this membership would create a cycle', { group: childId });
          if (await insertEdge(tx, tenantId, parentId, childId)) changed.push(childId);
        }
        await audit.record(
          tx,
          tenantId,
          changed.map((group) => ({ actor: access.actor, action: 'group.subgroup_added', target: { type: 'group', id: parentId }, data: { group } })),
        );
        return split(ids, changed);
      });
    },

    /** Un-nests groups; inheritance through the edge stops at the next issuance. */
    async removeSubgroups(access: Access, parentId: string, childIds: readonly string[]): Promise<ChangeResult> {
      const { tenantId } = access;
      const ids = unique(childIds);
      return change(tenantId, async (tx) => {
        await requireGroup(tx, tenantId, parentId);
        if ((await existingGroupIds(tx, tenantId, ids)).size !== ids.length) throw notFound('group');
        await lockGroupGraph(tx, tenantId);
        await lockOwners(tx, tenantId);
        await assertMayChangeMembership(tx, access, parentId, 'remove subgroups from this group');
        const changed: string[] = [];
        for (const childId of ids) if (await deleteEdge(tx, parentId, childId)) changed.push(childId);
        if (changed.length) await assertOwnersRemain(tx, tenantId);
        await audit.record(
          tx,
          tenantId,
          changed.map((group) => ({ actor: access.actor, action: 'group.subgroup_removed', target: { type: 'group', id: parentId }, data: { group } })),
        );
        return split(ids, changed);
      });
    },

    /** Assigns a role to the group (the same rows and rules as assigning from the role). */
    assignRole(access: Access, groupId: string, slug: string, expiresAt: Date | null): Promise<AssignmentResult> {
      return roles.addAssignments(access, slug, { groups: [groupId] }, expiresAt);
    },

    unassignRole(access: Access, groupId: string, slug: string): Promise<AssignmentResult> {
      return roles.removeAssignments(access, slug, { groups: [groupId] });
    },

    /** One member (CLI, tests). Returns true when something changed. */
    async addMember(access: Access, groupId: string, userId: string): Promise<boolean> {
      return (await service.addMembers(access, groupId, [userId])).changed.length > 0;
    },

    async removeMember(access: Access, groupId: string, userId: string): Promise<boolean> {
      return (await service.removeMembers(access, groupId, [userId])).changed.length > 0;
    },

    /** Makes `childId` a subgroup of `parentId`; 409 group_cycle if the parent is already below the child. */
    async addSubgroup(access: Access, parentId: string, childId: string): Promise<boolean> {
      return (await service.addSubgroups(access, parentId, [childId])).changed.length > 0;
    },

    async removeSubgroup(access: Access, parentId: string, childId: string): Promise<boolean> {
      return (await service.removeSubgroups(access, parentId, [childId])).changed.length > 0;
    },
  };
  return service;
}

export type GroupService = ReturnType<typeof createGroupService>;
