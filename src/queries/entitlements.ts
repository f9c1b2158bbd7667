import { eq, inArray, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import { allOn, type Executor } from '../db/client.ts';
import { clientRoles, groupEdges, groupMembers, groupRoles, roles, userRoles } from '../db/schema/index.ts';

/* The shapes the entitlement resolver (entitlements/resolve.ts) works on, as loaded from the rows. */

/** One role attached to a subject or group; `expiresAt` in epoch ms, null for permanent. */
export interface RoleLink {
  roleId: string;
  expiresAt: number | null;
}

/** The tenant-wide part of entitlement: roles, group nesting and group roles. */
export interface TenantGraph {
  roleCapabilities: ReadonlyMap<string, readonly string[]>;
  /** group id → its parent group ids */
  groupParents: ReadonlyMap<string, readonly string[]>;
  /** group id → roles assigned to the group */
  groupRoles: ReadonlyMap<string, readonly RoleLink[]>;
}

/** The subject-specific part: direct roles and direct group memberships. */
export interface SubjectLinks {
  directRoles: readonly RoleLink[];
  groups: readonly string[];
}


const ms = (d: Date | null): number | null => (d ? d.getTime() : null);

/** Loads the tenant-wide entitlement graph in three queries. */
export async function loadTenantGraph(db: Executor, tenantId: string): Promise<TenantGraph> {
  const [roleRows, edgeRows, groupRoleRows] = await allOn(db, [
    () => db.select({ id: roles.id, capabilities: roles.capabilities }).from(roles).where(eq(roles.tenantId, tenantId)),
    () =>
      db
        .select({ parentId: groupEdges.parentId, childId: groupEdges.childId })
        .from(groupEdges)
        .where(eq(groupEdges.tenantId, tenantId)),
    () =>
      db
        .select({ groupId: groupRoles.groupId, roleId: groupRoles.roleId, expiresAt: groupRoles.expiresAt })
        .from(groupRoles)
        .where(eq(groupRoles.tenantId, tenantId)),
  ] as const);
  const groupParents = new Map<string, string[]>();
  for (const e of edgeRows) {
    const list = groupParents.get(e.childId) ?? [];
    list.push(e.parentId);
    groupParents.set(e.childId, list);
  }
  const byGroup = new Map<string, RoleLink[]>();
  for (const r of groupRoleRows) {
    const list = byGroup.get(r.groupId) ?? [];
    list.push({ roleId: r.roleId, expiresAt: ms(r.expiresAt) });
    byGroup.set(r.groupId, list);
  }
  return {
    roleCapabilities: new Map(roleRows.map((r) => [r.id, r.capabilities])),
    groupParents,
    groupRoles: byGroup,
  };
}

/**
 * Users' direct roles and direct groups in one statement (one round trip, one snapshot): role rows
 * carry their expiry, group rows none. Rows come back as `{ id, ref, expiresAt, link }`.
 */
function userLinkRows(db: Executor, userIds: readonly string[]) {
  return unionAll(
    db
      .select({ id: userRoles.userId, ref: userRoles.roleId, expiresAt: userRoles.expiresAt, link: sql<'role' | 'group'>`'role'`.as('link') })
      .from(userRoles)
      .where(inArray(userRoles.userId, [...userIds])),
    db
      .select({ id: groupMembers.userId, ref: groupMembers.groupId, expiresAt: sql<Date | null>`null::timestamptz`.as('expires_at'), link: sql<'role' | 'group'>`'group'`.as('link') })
      .from(groupMembers)
      .where(inArray(groupMembers.userId, [...userIds])),
  );
}

/** Direct roles and direct groups of a user. */
export async function loadUserLinks(db: Executor, userId: string): Promise<SubjectLinks> {
  const links: SubjectLinks & { directRoles: RoleLink[]; groups: string[] } = { directRoles: [], groups: [] };
  for (const row of await userLinkRows(db, [userId])) {
    if (row.link === 'role') links.directRoles.push({ roleId: row.ref, expiresAt: ms(row.expiresAt) });
    else links.groups.push(row.ref);
  }
  return links;
}

/** Roles of a service client; service clients are not group members. */
export async function loadClientLinks(db: Executor, clientId: string): Promise<SubjectLinks> {
  const direct = await db
    .select({ roleId: clientRoles.roleId, expiresAt: clientRoles.expiresAt })
    .from(clientRoles)
    .where(eq(clientRoles.clientId, clientId));
  return { directRoles: direct.map((r) => ({ roleId: r.roleId, expiresAt: ms(r.expiresAt) })), groups: [] };
}

/** Direct roles and (for users) direct groups of many subjects in one query, for checks over a batch. */
export async function loadSubjectsLinks(db: Executor, kind: 'user' | 'client', ids: readonly string[]): Promise<Map<string, SubjectLinks>> {
  const out = new Map<string, SubjectLinks & { directRoles: RoleLink[]; groups: string[] }>();
  if (!ids.length) return out;
  for (const id of ids) out.set(id, { directRoles: [], groups: [] });
  if (kind === 'user') {
    for (const row of await userLinkRows(db, ids)) {
      if (row.link === 'role') out.get(row.id)?.directRoles.push({ roleId: row.ref, expiresAt: ms(row.expiresAt) });
      else out.get(row.id)?.groups.push(row.ref);
    }
  } else {
    const direct = await db.select({ id: clientRoles.clientId, roleId: clientRoles.roleId, expiresAt: clientRoles.expiresAt }).from(clientRoles).where(inArray(clientRoles.clientId, [...ids]));
    for (const r of direct) out.get(r.id)?.directRoles.push({ roleId: r.roleId, expiresAt: ms(r.expiresAt) });
  }
  return out;
}
