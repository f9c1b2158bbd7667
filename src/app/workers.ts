import type { Core } from './index.ts';
import { startWorkers, type ProcessorMap, type RunningWorkers } from '../jobs/workers/index.ts';
import type { Registry } from 'prom-client';
import { QUEUE_NAMES } from '../jobs/queues.ts';
import { scheduleExpirySweep } from '../jobs/expiry.ts';
import { requeueLostJobs } from '../jobs/watchdog.ts';
import { createJobCounters } from '../jobs/metrics.ts';
import { expiryProcessor } from '../jobs/workers/expiry.ts';
import { bulkRoleProcessor } from '../jobs/workers/bulkRoles.ts';
import { auditExportProcessor, startExportSweeper } from '../jobs/workers/auditExport.ts';

/** Composition root for the workers: one processor per queue, wired to the core's services. */
export function startJobWorkers(core: Core, opts: { registry?: Registry } = {}): RunningWorkers {
  const processors: ProcessorMap = {};
  const afterSweep = async () => {
    const requeued = await requeueLostJobs({ db: core.db, producers: core.producers, logger: core.logger });
    // Audit events a crash left unchained between their commit and the chainer (services/audit.ts).
    return { requeued, auditTenantsChained: await core.audit.sweep() };
  };
  processors[QUEUE_NAMES.expiry] = { processor: expiryProcessor({ expiry: core.services.expiry, afterSweep }), concurrency: 4 };
  // Every worker process upserts the same scheduler, so the sweep runs once per interval however many there are.
  scheduleExpirySweep(core.producers).catch((err: unknown) => core.logger.warn({ err: (err as Error).message }, 'could not schedule the assignment expiry sweep'));
  processors['bulk-role-assignments'] = { processor: bulkRoleProcessor(core), concurrency: 1 };
  processors[QUEUE_NAMES.auditExports] = { processor: auditExportProcessor(core), concurrency: 2 };
  const exportSweeper = startExportSweeper(core);
  const running = startWorkers({ redis: core.redisTarget, prefix: core.keys.bullPrefix(), logger: core.logger, processors, ...(opts.registry ? { counters: createJobCounters(opts.registry) } : {}), lockDuration: core.config.TESSERA_JOB_LOCK_MS });
  return {
    ...running,
    async close() {
      exportSweeper.stop();
      await running.close();
    },
  };
}
