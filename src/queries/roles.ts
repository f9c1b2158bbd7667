import { and, eq, inArray, sql } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
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
