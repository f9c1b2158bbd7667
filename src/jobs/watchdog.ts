import type { Database } from '../db/client.ts';
import type { Logger } from '../log/index.ts';
import { findStaleJobs, updateJob } from '../queries/jobs.ts';
import { QUEUE_OF } from '../services/jobs.ts';
import type { Producers } from './queues.ts';

/** A job row that has not moved for this long is checked against the queue. */
export const STALE_AFTER_SECONDS = 120;

/**
 * Finds jobs whose row says "queued" or "running" but whose queue entry is
 * gone (Redis lost it: a flush, a failover, a restore) and queues them again.
 * Re-adding is safe: the BullMQ job id is the row id, so a job that still
 * exists is not duplicated, and every job resumes from its Postgres checkpoint.
 * A job BullMQ gave up on while its row was left running is marked failed.
 */
export async function requeueLostJobs(deps: { db: Database; producers: Producers; logger: Logger }): Promise<{ requeued: number; failed: number }> {
  let requeued = 0;
  let failed = 0;
  for (const job of await findStaleJobs(deps.db, STALE_AFTER_SECONDS)) {
    const queue = deps.producers.queue(QUEUE_OF[job.type]);
    const existing = await queue.getJob(job.id);
    if (!existing) {
      await deps.producers.add(QUEUE_OF[job.type], { jobId: job.id, tenantId: job.tenantId }, { jobId: job.id });
      requeued++;
      deps.logger.warn({ job: job.id, type: job.type }, 'job had no queue entry; queued again');
    } else if (await existing.isFailed()) {
      await updateJob(deps.db, job.id, { status: 'failed', error: existing.failedReason || 'the job failed', finishedAt: new Date() });
      failed++;
    }
  }
  return { requeued, failed };
}
