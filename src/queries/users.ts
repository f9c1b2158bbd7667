import { and, asc, eq, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { foldCase } from '../text/index.ts';
import { roleHolderIds } from './assignments.ts';
import { groupMembers, groups, roles, userRoles, users } from '../db/schema/index.ts';

export type UserRow = typeof users.$inferSelect;

export async function findUserById(db: Executor, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row;
}

/** Case-insensitive email lookup within one tenant (served by users_tenant_email_ci). */
export async function findUserByEmail(db: Executor, tenantId: string, email: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.emailKey, foldCase(email))))
    .limit(1);
  return row;
}

/** Inserts a user; `email_key` is always derived here from the one folding, never passed in. */
export async function insertUser(db: Executor, row: Omit<typeof users.$inferInsert, 'emailKey'>): Promise<UserRow> {
  const [created] = await db.insert(users).values({ ...row, emailKey: foldCase(row.email) }).returning();
  return created!;
}

export async function updateUserStatus(db: Executor, id: string, status: 'active' | 'suspended'): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set({ status, updatedAt: new Date() }).where(eq(users.id, id)).returning();
  return row;
}

export async function updateUserPassword(db: Executor, id: string, passwordHash: string): Promise<void> {
  await db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, id));
}

/** The subset of `ids` that are users of the tenant. */
export async function existingUserIds(db: Executor, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), inArray(users.id, [...ids])));
  return new Set(found.map((r) => r.id));
}

/** A user of `tenantId`, or undefined (also when it exists in another tenant). */
export async function findTenantUser(db: Executor, tenantId: string, id: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
    .limit(1);
  return row;
}

/** Filters of the user list; every value is bound as a parameter, never spliced into SQL. */
export interface UserFilter {
  /** Case-insensitive substring of email or display name. */
  query?: string | undefined;
  status?: 'active' | 'suspended' | undefined;
  /** Role slug held now, directly or through (nested) groups. */
  role?: string | undefined;
  /** Group id whose direct members are listed. */
  group?: string | undefined;
}

/** Where a page starts: after (created_at, id), created_at as Postgres text with microseconds. */
export interface UserPosition {
  createdAt: string;
  id: string;
}

export type UserListRow = UserRow & { position: string };

/**
 * One page of users ordered by (created_at, id), served by users_tenant_created.
 * `position` is created_at at full (microsecond) precision, which a JS Date
 * would round and so skip or repeat rows created in the same millisecond.
 */
/** The WHERE of the user list's filter; the list, its count and "all matching" share it, so they agree. */
function userConditions(tenantId: string, filter: UserFilter): SQL[] {
  const conditions: SQL[] = [eq(users.tenantId, tenantId)];
  if (filter.status) conditions.push(eq(users.status, filter.status));
  if (filter.query) {
    // LIKE with the needle's own % _ \ escaped, on the folded email and the lower-cased name: the
    // trigram indexes of migration 0006 serve both sides of the OR.
    const needle = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conditions.push(sql`(${users.emailKey} like ${needle(foldCase(filter.query))} or lower(${users.displayName}) like lower(${needle(filter.query)}))`);
  }
  if (filter.group) {
    conditions.push(sql`${users.id} in (select ${groupMembers.userId} from ${groupMembers} where ${groupMembers.groupId} = ${filter.group} and ${groupMembers.tenantId} = ${tenantId})`);
  }
  // `= any(array(…))`: the holders are computed once and looked up by primary key, instead of probing
  // the holder set for every user of the tenant (bench/console: 40 ms → a few ms at 100,000 users).
  if (filter.role) conditions.push(sql`${users.id} = any(array(${roleHolderIds(sql`(select ${roles.id} from ${roles} where ${roles.tenantId} = ${tenantId} and ${roles.slug} = ${filter.role})`)}))`);
  return conditions;
}

export async function listUsers(db: Executor, tenantId: string, filter: UserFilter, after: UserPosition | undefined, limit: number): Promise<UserListRow[]> {
  const conditions = userConditions(tenantId, filter);
  if (after) conditions.push(sql`(${users.createdAt}, ${users.id}) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`);
  return db
    .select({ ...getTableColumns(users), position: sql<string>`to_char(${users.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` })
    .from(users)
    .where(and(...conditions))
    .orderBy(asc(users.createdAt), asc(users.id))
    .limit(limit);
}

/** How many users match the filter, counting at most `cap` (a count over 100,000 rows stops there). */
export async function countUsers(db: Executor, tenantId: string, filter: UserFilter, cap: number): Promise<number> {
  const inner = db.select({ one: sql`1` }).from(users).where(and(...userConditions(tenantId, filter))).limit(cap).as('matching');
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(inner);
  return row?.n ?? 0;
}

/** The ids of the users matching the filter, at most `max`, in list order. */
export async function listUserIds(db: Executor, tenantId: string, filter: UserFilter, max: number): Promise<string[]> {
  const found = await db.select({ id: users.id }).from(users).where(and(...userConditions(tenantId, filter))).orderBy(asc(users.createdAt), asc(users.id)).limit(max);
  return found.map((r) => r.id);
}

export async function updateUserProfile(db: Executor, id: string, patch: { email?: string; displayName?: string }): Promise<UserRow | undefined> {
  const [row] = await db
    .update(users)
    .set({ ...patch, ...(patch.email !== undefined ? { emailKey: foldCase(patch.email) } : {}), updatedAt: new Date() })
    .where(eq(users.id, id))
    .returning();
  return row;
}

/** Deletes a user; memberships and assignments go with it (ON DELETE CASCADE). */
export async function deleteUser(db: Executor, id: string): Promise<boolean> {
  const out = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id });
  return out.length > 0;
}

export interface UserDirectRole {
  roleId: string;
  slug: string;
  name: string;
  type: 'system' | 'custom';
  capabilities: string[];
  assignedAt: Date;
  expiresAt: Date | null;
}

/** Direct role assignments of a user with their roles, expired ones included, by slug. */
export async function listUserDirectRoles(db: Executor, userId: string): Promise<UserDirectRole[]> {
  return db
    .select({
      roleId: roles.id,
      slug: roles.slug,
      name: roles.name,
      type: roles.type,
      capabilities: roles.capabilities,
      assignedAt: userRoles.assignedAt,
      expiresAt: userRoles.expiresAt,
    })
    .from(userRoles)
    .innerJoin(roles, eq(roles.id, userRoles.roleId))
    .where(eq(userRoles.userId, userId))
    .orderBy(asc(roles.slug));
}

/** Removes every group membership of a user; returns the group ids left. */
export async function deleteAllUserMemberships(db: Executor, userId: string): Promise<string[]> {
  const out = await db.delete(groupMembers).where(eq(groupMembers.userId, userId)).returning({ groupId: groupMembers.groupId });
  return out.map((r) => r.groupId).sort();
}

/** Names of the tenant's groups among `ids`, for explaining group paths. */
export async function groupNames(db: Executor, tenantId: string, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const found = await db
    .select({ id: groups.id, name: groups.name })
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), inArray(groups.id, [...ids])));
  return new Map(found.map((g) => [g.id, g.name]));
}
