import type { Database } from '../db/client.ts';
import type { RoleService } from './roles.ts';
import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '../errors/index.ts';
import {
  deleteEdge,
  deleteMember,
  findGroupById,
  findGroupByName,
  insertEdge,
  insertGroup,
  insertMember,
  isAncestorOrSelf,
  lockGroupGraph,
} from '../queries/groups.ts';
import { findUserById } from '../queries/users.ts';
import type { Actor, AuditLog } from './audit.ts';
import type { TenantChange } from './change.ts';

/** Groups, members and nesting. */
export function createGroupService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService }) {
  const { change, audit } = deps;
  return {
    async create(tenantId: string, actor: Actor, input: { name: string; description?: string }) {
      const name = input.name.trim();
      return change(tenantId, async (tx) => {
        if (await findGroupByName(tx, tenantId, name)) throw conflict('group_name_taken', 'a group with this name already exists');
        const group = await insertGroup(tx, { id: randomUUID(), tenantId, name, description: input.description ?? null });
        await audit.record(tx, tenantId, { actor, action: 'group.created', target: { type: 'group', id: group.id }, data: { name } });
        return group;
      });
    },

    async addMember(tenantId: string, actor: Actor, groupId: string, userId: string): Promise<boolean> {
      return change(tenantId, async (tx) => {
        if (!(await findGroupById(tx, tenantId, groupId))) throw notFound('group');
        if ((await findUserById(tx, userId))?.tenantId !== tenantId) throw notFound('user');
        const changed = await insertMember(tx, tenantId, groupId, userId);
        if (changed) await audit.record(tx, tenantId, { actor, action: 'group.member_added', target: { type: 'group', id: groupId }, data: { user: userId } });
        return changed;
      });
    },

    async removeMember(tenantId: string, actor: Actor, groupId: string, userId: string): Promise<boolean> {
      return change(tenantId, async (tx) => {
        if (!(await findGroupById(tx, tenantId, groupId))) throw notFound('group');
        const changed = await deleteMember(tx, groupId, userId);
        if (changed) await audit.record(tx, tenantId, { actor, action: 'group.member_removed', target: { type: 'group', id: groupId }, data: { user: userId } });
        return changed;
      });
    },

    /** Makes `childId` a subgroup of `parentId`; 409 group_cycle if the parent is already below the child. */
    async addSubgroup(tenantId: string, actor: Actor, parentId: string, childId: string): Promise<boolean> {
      return change(tenantId, async (tx) => {
        if (!(await findGroupById(tx, tenantId, parentId))) throw notFound('group');
        if (!(await findGroupById(tx, tenantId, childId))) throw notFound('group');
        await lockGroupGraph(tx, tenantId);
        if (await isAncestorOrSelf(tx, parentId, childId)) throw conflict('group_cycle', 'this membership would create a cycle');
        const changed = await insertEdge(tx, tenantId, parentId, childId);
        if (changed) await audit.record(tx, tenantId, { actor, action: 'group.subgroup_added', target: { type: 'group', id: parentId }, data: { group: childId } });
        return changed;
      });
    },

    async removeSubgroup(tenantId: string, actor: Actor, parentId: string, childId: string): Promise<boolean> {
      return change(tenantId, async (tx) => {
        if (!(await findGroupById(tx, tenantId, parentId))) throw notFound('group');
        const changed = await deleteEdge(tx, parentId, childId);
        if (changed) await audit.record(tx, tenantId, { actor, action: 'group.subgroup_removed', target: { type: 'group', id: parentId }, data: { group: childId } });
        return changed;
      });
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
