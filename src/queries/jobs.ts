import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
import { jobs } from '../db/schema/index.ts';

export type JobRow = typeof jobs.$inferSelect;

export async function insertJob(db: Executor, row: typeof jobs.$inferInsert): Promise<JobRow> {
  const [created] = await db.insert(jobs).values(row).returning();
  return created!;
}

export async function findJob(db: Executor, id: string): Promise<JobRow | undefined> {
  const [row] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
  return row;
}

export async function findTenantJob(db: Executor, tenantId: string, id: string): Promise<JobRow | undefined> {
  const [row] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.tenantId, tenantId), eq(jobs.id, id)))
    .limit(1);
  return row;
}

export async function updateJob(db: Executor, id: string, patch: Partial<Pick<JobRow, 'status' | 'progressDone' | 'progressTotal' | 'result' | 'error' | 'finishedAt'>>): Promise<void> {
  await db.update(jobs).set({ ...patch, updatedAt: sql`now()` }).where(eq(jobs.id, id));
}

/** Unfinished jobs whose row has not moved for `staleSeconds`: candidates for a lost queue entry. */
export async function findStaleJobs(db: Executor, staleSeconds: number, limit = 500): Promise<Pick<JobRow, 'id' | 'tenantId' | 'type'>[]> {
  return db
    .select({ id: jobs.id, tenantId: jobs.tenantId, type: jobs.type })
    .from(jobs)
    .where(and(inArray(jobs.status, ['queued', 'running']), lt(jobs.updatedAt, sql`now() - make_interval(secs => ${staleSeconds})`)))
    .limit(limit);
}

/** Serialises job submissions of one type in one tenant, so the active count below can't be raced. */
export async function lockTenantJobs(db: Executor, tenantId: string, type: JobRow['type']): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`jobs:${tenantId}:${type}`}, 0))`);
}

/** Jobs of one type in one tenant that are queued or running. */
export async function countActiveJobs(db: Executor, tenantId: string, type: JobRow['type']): Promise<number> {
  const res = await rows<{ n: number }>(db, sql`select count(*)::int as n from jobs where tenant_id = ${tenantId} and type = ${type} and status in ('queued', 'running')`);
  return res[0]?.n ?? 0;
}
