import { and, eq, inArray, sql } from 'drizzle-orm';
import { allOn, rows, type Executor } from '../db/client.ts';
import { clientRoles, groupRoles, retiredSlugs, roles, userRoles } from '../db/schema/index.ts';

export type RoleRow = typeof roles.$inferSelect;

export async function findRoleBySlug(db: Executor, tenantId: string, slug: string): Promise<RoleRow | undefined> {
  const [row] = await db
    .select()
    .from(roles)
    .where(and(eq(roles.tenantId, tenantId), eq(roles.slug, slug)))
    .limit(1);
  return row;
}

export async function insertRoles(db: Executor, rows: (typeof roles.$inferInsert)[]): Promise<RoleRow[]> {
  return db.insert(roles).values(rows).returning();
}

export async function listRoles(db: Executor, tenantId: string): Promise<RoleRow[]> {
  return db.select().from(roles).where(eq(roles.tenantId, tenantId)).orderBy(roles.type, roles.name);
}

/** True when the slug is in use or retired in the tenant. */
export async function isSlugUnavailable(db: Executor, tenantId: string, slug: string): Promise<boolean> {
  const res = await rows<{ taken: boolean }>(db, sql`
    select exists(select 1 from ${roles} where ${roles.tenantId} = ${tenantId} and ${roles.slug} = ${slug})
        or exists(select 1 from ${retiredSlugs} where ${retiredSlugs.tenantId} = ${tenantId} and ${retiredSlugs.slug} = ${slug}) as taken`);
  return Boolean(res[0]?.taken);
}

type Assignment = { tenantId: string; roleId: string; expiresAt: Date | null };

/** Upserts direct user roles; returns the user ids whose row was inserted or changed. */
export async function upsertUserRoles(db: Executor, rows: (Assignment & { userId: string })[]): Promise<string[]> {
  if (!rows.length) return [];
  const out = await db
    .insert(userRoles)
    .values(rows)
    .onConflictDoUpdate({
      target: [userRoles.userId, userRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${userRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ userId: userRoles.userId });
  return out.map((r) => r.userId);
}

export async function deleteUserRoles(db: Executor, roleId: string, userIds: string[]): Promise<string[]> {
  if (!userIds.length) return [];
  const out = await db
    .delete(userRoles)
    .where(and(eq(userRoles.roleId, roleId), inArray(userRoles.userId, userIds)))
    .returning({ userId: userRoles.userId });
  return out.map((r) => r.userId);
}

export async function upsertGroupRole(db: Executor, row: Assignment & { groupId: string }): Promise<boolean> {
  const out = await db
    .insert(groupRoles)
    .values(row)
    .onConflictDoUpdate({
      target: [groupRoles.groupId, groupRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${groupRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ groupId: groupRoles.groupId });
  return out.length > 0;
}

export async function deleteGroupRole(db: Executor, roleId: string, groupId: string): Promise<boolean> {
  const out = await db
    .delete(groupRoles)
    .where(and(eq(groupRoles.roleId, roleId), eq(groupRoles.groupId, groupId)))
    .returning({ groupId: groupRoles.groupId });
  return out.length > 0;
}

export async function upsertClientRole(db: Executor, row: Assignment & { clientId: string }): Promise<boolean> {
  const out = await db
    .insert(clientRoles)
    .values(row)
    .onConflictDoUpdate({
      target: [clientRoles.clientId, clientRoles.roleId],
      set: { expiresAt: sql`excluded.expires_at` },
      setWhere: sql`${clientRoles.expiresAt} is distinct from excluded.expires_at`,
    })
    .returning({ clientId: clientRoles.clientId });
  return out.length > 0;
}

export async function deleteClientRole(db: Executor, roleId: string, clientId: string): Promise<boolean> {
  const out = await db
    .delete(clientRoles)
    .where(and(eq(clientRoles.roleId, roleId), eq(clientRoles.clientId, clientId)))
    .returning({ clientId: clientRoles.clientId });
  return out.length > 0;
}

export interface RoleCounts {
  users: number;
  groups: number;
  clients: number;
}

/** Assignment counts per role of a tenant. */
export async function assignmentCounts(db: Executor, tenantId: string): Promise<Map<string, RoleCounts>> {
  const res = await rows<{ role_id: string; users: number; groups: number; clients: number }>(
    db,
    sql`
    select r.id as role_id,
      (select count(*)::int from ${userRoles} u where u.role_id = r.id) as users,
      (select count(*)::int from ${groupRoles} g where g.role_id = r.id) as groups,
      (select count(*)::int from ${clientRoles} c where c.role_id = r.id) as clients
    from ${roles} r where r.tenant_id = ${tenantId}`,
  );
  return new Map(res.map((r) => [r.role_id, { users: r.users, groups: r.groups, clients: r.clients }]));
}

export async function updateRole(db: Executor, id: string, patch: Partial<Pick<RoleRow, 'name' | 'description' | 'capabilities'>>): Promise<RoleRow> {
  const [row] = await db.update(roles).set({ ...patch, updatedAt: new Date() }).where(eq(roles.id, id)).returning();
  return row!;
}

/** Deletes a role (assignments cascade) and retires its slug for good. */
export async function deleteRoleAndRetireSlug(db: Executor, role: RoleRow): Promise<void> {
  await db.insert(retiredSlugs).values({ tenantId: role.tenantId, slug: role.slug }).onConflictDoNothing();
  await db.delete(roles).where(eq(roles.id, role.id));
}

export interface RoleAssignments {
  users: { id: string; email: string; display_name: string; assigned_at: Date; expires_at: Date | null }[];
  groups: { id: string; name: string; assigned_at: Date; expires_at: Date | null }[];
  clients: { id: string; name: string; assigned_at: Date; expires_at: Date | null }[];
}

/** Everyone a role is assigned to directly. */
export async function listRoleAssignments(db: Executor, roleId: string): Promise<RoleAssignments> {
  const [u, g, c] = await allOn(db, [
    () =>
      rows<RoleAssignments['users'][number]>(
        db,
        sql`select u.id, u.email, u.display_name, a.assigned_at, a.expires_at from ${userRoles} a join users u on u.id = a.user_id where a.role_id = ${roleId} order by a.assigned_at, u.id`,
      ),
    () =>
      rows<RoleAssignments['groups'][number]>(
        db,
        sql`select g.id, g.name, a.assigned_at, a.expires_at from ${groupRoles} a join groups g on g.id = a.group_id where a.role_id = ${roleId} order by a.assigned_at, g.id`,
      ),
    () =>
      rows<RoleAssignments['clients'][number]>(
        db,
        sql`select c.id, c.name, a.assigned_at, a.expires_at from ${clientRoles} a join clients c on c.id = a.client_id where a.role_id = ${roleId} order by a.assigned_at, c.id`,
      ),
  ] as const);
  return { users: u, groups: g, clients: c };
}

/** Deletes group-role rows for many groups; returns the group ids removed. */
export async function deleteGroupRoles(db: Executor, roleId: string, groupIds: string[]): Promise<string[]> {
  if (!groupIds.length) return [];
  const out = await db
    .delete(groupRoles)
    .where(and(eq(groupRoles.roleId, roleId), inArray(groupRoles.groupId, groupIds)))
    .returning({ groupId: groupRoles.groupId });
  return out.map((r) => r.groupId);
}

/** Upserts group-role rows for many groups; returns the group ids inserted or changed. */
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

/** Copies every assignment of one role to another (reassign on delete); existing rows are kept. */
export async function copyAssignments(db: Executor, fromRoleId: string, toRoleId: string): Promise<void> {
  await db.execute(sql`insert into ${userRoles} (tenant_id, role_id, user_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, user_id, now(), expires_at from ${userRoles} where role_id = ${fromRoleId} on conflict do nothing`);
  await db.execute(sql`insert into ${groupRoles} (tenant_id, role_id, group_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, group_id, now(), expires_at from ${groupRoles} where role_id = ${fromRoleId} on conflict do nothing`);
  await db.execute(sql`insert into ${clientRoles} (tenant_id, role_id, client_id, assigned_at, expires_at)
    select tenant_id, ${toRoleId}, client_id, now(), expires_at from ${clientRoles} where role_id = ${fromRoleId} on conflict do nothing`);
}

/** Serialises changes that can remove an Owner, so two of them can't remove the last two at once. */
export async function lockOwners(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`owners:${tenantId}`}, 0))`);
}

/**
 * Users who hold a role now: directly, or as members of a group that has it
 * or of any group nested below such a group. Expired assignments don't count.
 */
export async function countRoleHolders(db: Executor, tenantId: string, roleId: string): Promise<number> {
  const res = await rows<{ n: number }>(
    db,
    sql`
    with recursive granted(id) as (
      select group_id from ${groupRoles} where role_id = ${roleId} and (expires_at is null or expires_at > now())
      union
      select e.child_id from group_edges e join granted on e.parent_id = granted.id
    )
    select count(distinct user_id)::int as n from (
      select user_id from ${userRoles} where role_id = ${roleId} and (expires_at is null or expires_at > now())
      union
      select m.user_id from group_members m join granted on m.group_id = granted.id
    ) holders join users u on u.id = holders.user_id where u.tenant_id = ${tenantId} and u.status = 'active'`,
  );
  return res[0]?.n ?? 0;
}
