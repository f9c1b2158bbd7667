import { randomUUID } from 'node:crypto';
import type { Database, Tx } from '../db/client.ts';
import { AppError, notFound, unavailable } from '../errors/index.ts';
import { isBackingServiceError } from '../errors/backing.ts';
import { countActiveJobs, findJob, findTenantJob, insertJob, lockTenantJobs, updateJob, type JobRow } from '../queries/jobs.ts';
import type { Access } from './authority.ts';

export type JobType = JobRow['type'];

/** What a 429 for a tenant at its job limit suggests as Retry-After. */
export const RETRY_AFTER_SECONDS = 10;

/** The API shape of a job. */
export interface JobView {
  id: string;
  type: JobType;
  status: JobRow['status'];
  progress: { done: number; total: number };
  result: unknown;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export const jobView = (j: JobRow): JobView => ({
  id: j.id,
  type: j.type,
  status: j.status,
  progress: { done: j.progressDone, total: j.progressTotal },
  result: j.result ?? null,
  error: j.error,
  created_at: j.createdAt.toISOString(),
  finished_at: j.finishedAt?.toISOString() ?? null,
});

/** The queues jobs are handed to (jobs/queues.ts implements it over BullMQ); the service owns this port. */
export interface JobQueue {
  add(name: (typeof QUEUE_OF)[JobType], payload: { jobId: string; tenantId: string }, opts: { jobId: string }): Promise<void>;
}

export const QUEUE_OF = { bulk_role_assignment: 'bulk-role-assignments', audit_export: 'audit-exports' } as const satisfies Record<JobType, string>;

/**
 * Durable job records and their queueing. A job is written to Postgres first
 * (its id is also the BullMQ job id, so a re-enqueue is deduplicated), then
 * queued; if Redis can't take it, the row is marked failed and the caller
 * gets 503, so nothing is left waiting that will never run.
 */
export function createJobService(deps: { db: Database; producers: JobQueue; limits?: Partial<Record<JobType, number>> }) {
  const { db, producers } = deps;
  return {
    async submit(input: { access: Access; type: JobType; input: unknown; total: number }, inTx?: (tx: Tx, job: JobRow) => Promise<void>): Promise<JobView> {
      const { tenantId, actor } = input.access;
      const id = randomUUID();
      const job = await db.transaction(async (tx) => {
        // Expensive work has a per-tenant concurrency limit (SPEC §8 "Bounded cost"), counted under a lock.
        const limit = deps.limits?.[input.type];
        if (limit !== undefined) {
          await lockTenantJobs(tx, tenantId, input.type);
          if ((await countActiveJobs(tx, tenantId, input.type)) >= limit) {
            throw new AppError(429, 'too_many_jobs', `this tenant already has ${limit} ${input.type.replace(/_/g, ' ')} jobs queued or running; retry when one has finished`, {
              limit,
              retry_after: RETRY_AFTER_SECONDS,
            });
          }
        }
        const row = await insertJob(tx, { id, tenantId, type: input.type, actorType: actor.type, actorId: actor.id, input: input.input as object, progressTotal: input.total });
        await inTx?.(tx, row);
        return row;
      });
      try {
        await producers.add(QUEUE_OF[input.type], { jobId: id, tenantId }, { jobId: id });
      } catch (err) {
        await updateJob(db, id, { status: 'failed', error: 'the job queue was unavailable; nothing was changed', finishedAt: new Date() }).catch(() => undefined);
        if (isBackingServiceError(err) || (err as Error).message?.includes('writeable')) throw unavailable('the job queue is unavailable, retry shortly');
        throw err;
      }
      return jobView(job);
    },

    async get({ tenantId }: Access, id: string): Promise<JobView> {
      const job = await findTenantJob(db, tenantId, id);
      if (!job) throw notFound('job');
      return jobView(job);
    },

    /** For workers: the full row, including the input. */
    load: (id: string) => findJob(db, id),
    progress: (id: string, done: number, total?: number) => updateJob(db, id, { status: 'running', progressDone: done, ...(total !== undefined ? { progressTotal: total } : {}) }),
    complete: (id: string, result: unknown, done?: number) => updateJob(db, id, { status: 'completed', result: result as object, finishedAt: new Date(), ...(done !== undefined ? { progressDone: done } : {}) }),
    fail: (id: string, error: string, result?: unknown) => updateJob(db, id, { status: 'failed', error, finishedAt: new Date(), ...(result !== undefined ? { result: result as object } : {}) }),
  };
}

export type JobService = ReturnType<typeof createJobService>;
