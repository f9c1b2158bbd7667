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

/** The subset of `ids` that are groups of the tenant. */
export async function existingGroupIds(db: Executor, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await db
    .select({ id: groups.id })
    .from(groups)
    .where(and(eq(groups.tenantId, tenantId), inArray(groups.id, [...ids])));
  return new Set(found.map((r) => r.id));
}
