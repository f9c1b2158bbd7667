import { UnrecoverableError, type Processor } from 'bullmq';
import type { Logger } from '../../log/index.ts';
import type { AuditExportService } from '../../services/auditExports/index.ts';
import type { JobService } from '../../services/jobs.ts';
import type { AuditExportPayload } from '../queues.ts';

/** Expired export files are looked for this often. */
export const EXPORT_SWEEP_MS = 10 * 60_000;

interface Deps {
  logger: Logger;
  services: { auditExports: AuditExportService; jobs: JobService };
}

/**
 * Runs audit export jobs. Every attempt rewrites the file from scratch (the
 * event range is pinned by the first attempt), so retries need no resume
 * logic. The job row is marked failed only when no attempt is left.
 */
export function auditExportProcessor(deps: Deps): Processor<AuditExportPayload> {
  const { auditExports, jobs } = deps.services;
  return async (job) => {
    try {
      return await auditExports.run(job.data.jobId);
    } catch (err) {
      const last = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (last) {
        await jobs.fail(job.data.jobId, (err as Error).message).catch(() => undefined);
        await auditExports.discardPartial(job.data.jobId).catch(() => undefined);
      }
      throw err;
    }
  };
}

/**
 * Deletes expired export files every EXPORT_SWEEP_MS. Running it in every
 * worker process is harmless: a sweep only deletes what has expired and a
 * second sweeper finds the path already cleared.
 */
export function startExportSweeper(deps: Deps, everyMs = EXPORT_SWEEP_MS): { stop(): void } {
  const sweep = () =>
    deps.services.auditExports
      .sweep()
      .then((n) => n && deps.logger.info({ removed: n }, 'expired audit exports removed'))
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'audit export sweep failed'));
  const timer = setInterval(() => void sweep(), everyMs);
  // The sweep never keeps a process alive on its own.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
