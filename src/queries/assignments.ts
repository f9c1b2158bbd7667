import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
import { clientRoles, groupEdges, groupMembers, groupRoles, userRoles } from '../db/schema/index.ts';

/**
 * The rows of `user_roles`, `group_roles` and `client_roles`. Only the
 * assignment engine (services/assignments.ts) calls the writers here.
 */

type Assignment = { tenantId: string; roleId: string; expiresAt: Date | null };

/** Upserts direct user roles; returns the user ids whose row was inserted or whose expiry changed. */
export async function upsertUserRoles(db: Executor, rowsIn: (Assignment & { userId: string })[]): Promise<string[]> {
  if (!rowsIn.length) return [];
  const out = await db
    .insert(userRoles)
    .values(rowsIn)
    .onConflictDoUpdate({
      target: [userRoles.userId, userRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${userRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ userId: userRoles.userId });
  return out.map((r) => r.userId);
}

export async function deleteUserRoles(db: Executor, roleId: string, userIds: readonly string[]): Promise<string[]> {
  if (!userIds.length) return [];
  const out = await db
    .delete(userRoles)
    .where(and(eq(userRoles.roleId, roleId), inArray(userRoles.userId, [...userIds])))
    .returning({ userId: userRoles.userId });
  return out.map((r) => r.userId);
}

/** Upserts group-role rows; returns the group ids inserted or changed. */
export async function upsertGroupRoles(db: Executor, rowsIn: (Assignment & { groupId: string })[]): Promise<string[]> {
  if (!rowsIn.length) return [];
  const out = await db
    .insert(groupRoles)
    .values(rowsIn)
    .onConflictDoUpdate({
      target: [groupRoles.groupId, groupRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${groupRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ groupId: groupRoles.groupId });
  return out.map((r) => r.groupId);
}

export async function deleteGroupRoles(db: Executor, roleId: string, groupIds: readonly string[]): Promise<string[]> {
  if (!groupIds.length) return [];
  const out = await db
    .delete(groupRoles)
    .where(and(eq(groupRoles.roleId, roleId), inArray(groupRoles.groupId, [...groupIds])))
    .returning({ groupId: groupRoles.groupId });
  return out.map((r) => r.groupId);
}

/** Upserts client-role rows; returns the client ids inserted or changed. */
export async function upsertClientRoles(db: Executor, rowsIn: (Assignment & { clientId: string })[]): Promise<string[]> {
  if (!rowsIn.length) return [];
  const out = await db
    .insert(clientRoles)
    .values(rowsIn)
    .onConflictDoUpdate({
      target: [clientRoles.clientId, clientRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${clientRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ clientId: clientRoles.clientId });
  return out.map((r) => r.clientId);
}

export async function deleteClientRoles(db: Executor, roleId: string, clientIds: readonly string[]): Promise<string[]> {
  if (!clientIds.length) return [];
  const out = await db
    .delete(clientRoles)
    .where(and(eq(clientRoles.roleId, roleId), inArray(clientRoles.clientId, [...clientIds])))
    .returning({ clientId: clientRoles.clientId });
  return out.map((r) => r.clientId);
}

/** Removes every direct role of a user; returns the role ids removed. */
export async function deleteAllUserRoles(db: Executor, userId: string): Promise<string[]> {
  const out = await db.delete(userRoles).where(eq(userRoles.userId, userId)).returning({ roleId: userRoles.roleId });
  return out.map((r) => r.roleId);
}

/** Copies every assignment of one role to another (reassign on delete); existing rows are kept. */
export async function copyAssignments(db: Executor, fromRoleId: string, toRoleId: string): Promise<void> {
  await db.execute(sql`insert into ${userRoles} (tenant_id, role_id, user_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, user_id, now(), expires_at from ${userRoles} where role_id = ${fromRoleId} on conflict do nothing`);
  await db.execute(sql`insert into ${groupRoles} (tenant_id, role_id, group_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, group_id, now(), expires_at from ${groupRoles} where role_id = ${fromRoleId} on conflict do nothing`);
  await db.execute(sql`insert into ${clientRoles} (tenant_id, role_id, client_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, client_id, now(), expires_at from ${clientRoles} where role_id = ${fromRoleId} on conflict do nothing`);
}

/** Which assignments count: every unexpired one, or only those without an expiry (the last-Owner rule). */
export type Holding = 'now' | 'permanent';

/**
 * The one definition of "holds role R": the ids of users holding the role,
 * directly or as members of a group that has it or of any group nested below
 * such a group. `role` is an SQL expression for the role id (a parameter or a
 * subquery). With `exceptDirect`, those users' direct assignments don't count.
 */
export function roleHolderIds(role: SQL, holding: Holding = 'now', exceptDirect?: readonly string[]): SQL {
  const live = (expires: SQL) => (holding === 'permanent' ? sql`${expires} is null` : sql`(${expires} is null or ${expires} > now())`);
  const except = exceptDirect?.length ? sql`and ur.user_id <> all(${`{${exceptDirect.join(',')}}`}::uuid[])` : sql``;
  return sql`
    with recursive granted(id) as (
      select gr.group_id from ${groupRoles} gr where gr.role_id = ${role} and ${live(sql`gr.expires_at`)}
      union
      select e.child_id from ${groupEdges} e join granted on e.parent_id = granted.id
    )
    select ur.user_id from ${userRoles} ur where ur.role_id = ${role} and ${live(sql`ur.expires_at`)} ${except}
    union
    select m.user_id from ${groupMembers} m where m.group_id = any(array(select id from granted))`;
}

/** Active users of the tenant who hold the role (see `roleHolderIds`). */
export async function countRoleHolders(db: Executor, tenantId: string, roleId: string, holding: Holding = 'now', exceptDirect?: readonly string[]): Promise<number> {
  const res = await rows<{ n: number }>(
    db,
    sql`select count(*)::int as n from users u
        where u.tenant_id = ${tenantId} and u.status = 'active' and u.id in (${roleHolderIds(sql`${roleId}::uuid`, holding, exceptDirect)})`,
  );
  return res[0]?.n ?? 0;
}
