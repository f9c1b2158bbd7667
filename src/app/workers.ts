import type { Core } from './index.ts';
import { startWorkers, type ProcessorMap, type RunningWorkers } from '../jobs/workers/index.ts';

/** Composition root for the workers: one processor per queue, wired to the core's services. */
export function startJobWorkers(core: Core): RunningWorkers {
  const processors: ProcessorMap = {};
  return startWorkers({ url: core.config.REDIS_URL, prefix: core.keys.bullPrefix(), logger: core.logger, processors });
}
