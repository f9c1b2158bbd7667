import { and, eq, sql } from 'drizzle-orm';
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

/** Slug, name and type of every role of the tenant, in the list's order (pickers need no more). */
export async function listRoleNames(db: Executor, tenantId: string): Promise<Array<{ slug: string; name: string; type: string }>> {
  return db.select({ slug: roles.slug, name: roles.name, type: roles.type }).from(roles).where(eq(roles.tenantId, tenantId)).orderBy(roles.type, roles.name);
}

/** True when the slug is in use or retired in the tenant. */
export async function isSlugUnavailable(db: Executor, tenantId: string, slug: string): Promise<boolean> {
  const res = await rows<{ taken: boolean }>(db, sql`
    select exists(select 1 from ${roles} where ${roles.tenantId} = ${tenantId} and ${roles.slug} = ${slug})
        or exists(select 1 from ${retiredSlugs} where ${retiredSlugs.tenantId} = ${tenantId} and ${retiredSlugs.slug} = ${slug}) as taken`);
  return Boolean(res[0]?.taken);
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
/** A role's direct assignments, oldest first; `limit` caps each kind (the console shows the first ones and the counts). */
export async function listRoleAssignments(db: Executor, roleId: string, limit?: number): Promise<RoleAssignments> {
  const cap = limit === undefined ? sql`` : sql` limit ${limit}`;
  const [u, g, c] = await allOn(db, [
    () =>
      rows<RoleAssignments['users'][number]>(
        db,
        sql`select u.id, u.email, u.display_name, a.assigned_at, a.expires_at from ${userRoles} a join users u on u.id = a.user_id where a.role_id = ${roleId} order by a.assigned_at, u.id${cap}`,
      ),
    () =>
      rows<RoleAssignments['groups'][number]>(
        db,
        sql`select g.id, g.name, a.assigned_at, a.expires_at from ${groupRoles} a join groups g on g.id = a.group_id where a.role_id = ${roleId} order by a.assigned_at, g.id${cap}`,
      ),
    () =>
      rows<RoleAssignments['clients'][number]>(
        db,
        sql`select c.id, c.name, a.assigned_at, a.expires_at from ${clientRoles} a join clients c on c.id = a.client_id where a.role_id = ${roleId} order by a.assigned_at, c.id${cap}`,
      ),
  ] as const);
  return { users: u, groups: g, clients: c };
}




/** Serialises changes that can remove an Owner, so two of them can't remove the last two at once. */
export async function lockOwners(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`owners:${tenantId}`}, 0))`);
}

