import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
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
