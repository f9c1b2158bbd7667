import { and, eq, inArray, sql } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
import { groupEdges, groupMembers, groups } from '../db/schema/index.ts';

export type GroupRow = typeof groups.$inferSelect;

export async function findGroupById(db: Executor, tenantId: string, id: string): Promise<GroupRow | undefined> {
  const [row] = await db
    .select()
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), eq(groups.id, id)))
    .limit(1);
  return row;
}

export async function findGroupByName(db: Executor, tenantId: string, name: string): Promise<GroupRow | undefined> {
  const [row] = await db
    .select()
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), sql`lower(${groups.name}) = lower(${name})`))
    .limit(1);
  return row;
}

export async function insertGroup(db: Executor, row: typeof groups.$inferInsert): Promise<GroupRow> {
  const [created] = await db.insert(groups).values(row).returning();
  return created!;
}

export async function insertMember(db: Executor, tenantId: string, groupId: string, userId: string): Promise<boolean> {
  const out = await db
    .insert(groupMembers)
    .values({ tenantId, groupId, userId })
    .onConflictDoNothing()
    .returning({ userId: groupMembers.userId });
  return out.length > 0;
}

export async function deleteMember(db: Executor, groupId: string, userId: string): Promise<boolean> {
  const out = await db
    .delete(groupMembers)
    .where(and(eq(groupMembers.groupId, groupId), eq(groupMembers.userId, userId)))
    .returning({ userId: groupMembers.userId });
  return out.length > 0;
}

/** True when `ancestor` is reachable from `groupId` by following parent edges (or is the same group). */
export async function isAncestorOrSelf(db: Executor, groupId: string, ancestor: string): Promise<boolean> {
  if (groupId === ancestor) return true;
  const res = await rows<{ found: boolean }>(db, sql`
    with recursive up(id) as (
      select ${groupEdges.parentId} from ${groupEdges} where ${groupEdges.childId} = ${groupId}
      union
      select e.parent_id from ${groupEdges} e join up on e.child_id = up.id
    )
    select exists(select 1 from up where id = ${ancestor}) as found`);
  return Boolean(res[0]?.found);
}

export async function insertEdge(db: Executor, tenantId: string, parentId: string, childId: string): Promise<boolean> {
  const out = await db
    .insert(groupEdges)
    .values({ tenantId, parentId, childId })
    .onConflictDoNothing()
    .returning({ childId: groupEdges.childId });
  return out.length > 0;
}

export async function deleteEdge(db: Executor, parentId: string, childId: string): Promise<boolean> {
  const out = await db
    .delete(groupEdges)
    .where(and(eq(groupEdges.parentId, parentId), eq(groupEdges.childId, childId)))
    .returning({ childId: groupEdges.childId });
  return out.length > 0;
}

/** Serialises nesting changes per tenant so two concurrent edges can't form a cycle together. */
export async function lockGroupGraph(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`groups:${tenantId}`}, 0))`);
}

/**
 * The same lock, shared: membership changes hold it so the nesting they checked what a group confers
 * through can't change under them, without serialising against each other.
 */
export async function lockGroupGraphShared(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock_shared(hashtextextended(${`groups:${tenantId}`}, 0))`);
}

/** The subset of `ids` that are groups of the tenant. */
export async function existingGroupIds(db: Executor, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await db
    .select({ id: groups.id })
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), inArray(groups.id, [...ids])));
  return new Set(found.map((r) => r.id));
}

/** A group with its direct member and subgroup counts, as lists show it. */
export interface GroupListRow {
  id: string;
  name: string;
  description: string | null;
  member_count: number;
  subgroup_count: number;
  created_at: Date;
  updated_at: Date;
}

const listColumns = sql`g.id, g.name, g.description, g.created_at, g.updated_at,
  (select count(*)::int from group_members m where m.group_id = g.id) as member_count,
  (select count(*)::int from group_edges e where e.parent_id = g.id) as subgroup_count`;

/** One page of a tenant's groups ordered by (name, id), optionally filtered by a name substring. */
export async function listGroupsPage(
  db: Executor,
  tenantId: string,
  opts: { limit: number; after?: { name: string; id: string } | undefined; query?: string | undefined },
): Promise<GroupListRow[]> {
  // Escape LIKE metacharacters so a filter of "50%" means the literal text.
  const like = opts.query ? `%${opts.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  return rows<GroupListRow>(db, sql`
    select ${listColumns} from ${groups} g
    where g.tenant_id = ${tenantId}
      ${like ? sql`and g.name ilike ${like}` : sql``}
      ${opts.after ? sql`and (g.name, g.id) > (${opts.after.name}, ${opts.after.id}::uuid)` : sql``}
    order by g.name, g.id
    limit ${opts.limit}`);
}

/** Groups of the tenant by id, with counts, ordered by name. */
export async function listGroupsByIds(db: Executor, tenantId: string, ids: readonly string[]): Promise<GroupListRow[]> {
  if (!ids.length) return [];
  return rows<GroupListRow>(db, sql`
    select ${listColumns} from ${groups} g
    where g.tenant_id = ${tenantId} and g.id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})
    order by g.name, g.id`);
}

export async function updateGroup(db: Executor, id: string, patch: Partial<Pick<GroupRow, 'name' | 'description'>>): Promise<GroupRow> {
  const [row] = await db.update(groups).set({ ...patch, updatedAt: new Date() }).where(eq(groups.id, id)).returning();
  return row!;
}

/** Deletes a group; memberships, edges and group roles cascade. */
export async function deleteGroup(db: Executor, id: string): Promise<void> {
  await db.delete(groups).where(eq(groups.id, id));
}

/** Adds users to a group; returns the user ids that were not members yet. */
export async function insertMembers(db: Executor, tenantId: string, groupId: string, userIds: readonly string[]): Promise<string[]> {
  if (!userIds.length) return [];
  const out = await db
    .insert(groupMembers)
    .values(userIds.map((userId) => ({ tenantId, groupId, userId })))
    .onConflictDoNothing()
    .returning({ userId: groupMembers.userId });
  return out.map((r) => r.userId);
}

/** Removes users from a group; returns the user ids that were members. */
export async function deleteMembers(db: Executor, groupId: string, userIds: readonly string[]): Promise<string[]> {
  if (!userIds.length) return [];
  const out = await db
    .delete(groupMembers)
    .where(and(eq(groupMembers.groupId, groupId), inArray(groupMembers.userId, [...userIds])))
    .returning({ userId: groupMembers.userId });
  return out.map((r) => r.userId);
}

export interface MemberRow {
  id: string;
  email: string;
  display_name: string;
  added_at: Date;
}

/** One page of a group's direct members ordered by (email, id). */
export async function listMembersPage(db: Executor, groupId: string, opts: { limit: number; after?: { email: string; id: string } | undefined }): Promise<MemberRow[]> {
  return rows<MemberRow>(db, sql`
    select u.id, u.email, u.display_name, m.created_at as added_at
    from ${groupMembers} m join users u on u.id = m.user_id
    where m.group_id = ${groupId}
      ${opts.after ? sql`and (u.email, u.id) > (${opts.after.email}, ${opts.after.id}::uuid)` : sql``}
    order by u.email, u.id
    limit ${opts.limit}`);
}

/** Direct member, child and parent ids of a group (the prior state a deletion records). */
export async function groupLinks(db: Executor, groupId: string): Promise<{ members: string[]; subgroups: string[]; parents: string[] }> {
  // Sequential: a transaction is one connection, which runs one query at a time anyway.
  const m = await db.select({ id: groupMembers.userId }).from(groupMembers).where(eq(groupMembers.groupId, groupId));
  const c = await db.select({ id: groupEdges.childId }).from(groupEdges).where(eq(groupEdges.parentId, groupId));
  const p = await db.select({ id: groupEdges.parentId }).from(groupEdges).where(eq(groupEdges.childId, groupId));
  return { members: m.map((r) => r.id), subgroups: c.map((r) => r.id), parents: p.map((r) => r.id) };
}

export interface GroupRoleRow {
  group_id: string;
  slug: string;
  name: string;
  type: 'system' | 'custom';
  assigned_at: Date;
  expires_at: Date | null;
}

/** Roles assigned directly to any of `groupIds`, with the role's slug, name and type. */
export async function listRolesOfGroups(db: Executor, groupIds: readonly string[]): Promise<GroupRoleRow[]> {
  if (!groupIds.length) return [];
  return rows<GroupRoleRow>(db, sql`
    select a.group_id, r.slug, r.name, r.type, a.assigned_at, a.expires_at
    from group_roles a join roles r on r.id = a.role_id
    where a.group_id in (${sql.join(groupIds.map((id) => sql`${id}::uuid`), sql`, `)})
    order by r.name, r.slug`);
}

/** Names of groups by id. */
export async function groupNames(db: Executor, tenantId: string, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const found = await db
    .select({ id: groups.id, name: groups.name })
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), inArray(groups.id, [...ids])));
  return new Map(found.map((r) => [r.id, r.name]));
}
