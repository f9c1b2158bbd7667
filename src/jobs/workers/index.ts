import { Worker, type Job, type Processor } from 'bullmq';
import type { Logger } from '../../log/index.ts';
import type { RedisTarget } from '../../redis/connection.ts';
import { bullConnection, type PayloadOf, type QueueName } from '../queues.ts';
import type { JobCounters } from '../metrics.ts';

export type ProcessorMap = { [N in QueueName]?: { processor: Processor<PayloadOf[N]>; concurrency?: number } };

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs and waits for the active ones to finish (graceful shutdown). */
  close(): Promise<void>;
}

/** Starts one BullMQ worker per queue that has a processor. */
export function startWorkers(deps: { redis: RedisTarget; prefix: string; logger: Logger; processors: ProcessorMap; lockDuration?: number; counters?: JobCounters }): RunningWorkers {
  const workers: Worker[] = [];
  const connections: ReturnType<typeof bullConnection>[] = [];
  for (const [name, entry] of Object.entries(deps.processors) as [QueueName, { processor: Processor; concurrency?: number }][]) {
    const connection = bullConnection(deps.redis, 'worker');
    connections.push(connection);
    const worker = new Worker(name, entry.processor, {
      connection,
      prefix: deps.prefix,
      concurrency: entry.concurrency ?? 1,
      // A worker killed mid-job leaves a lock; after it expires the job is retried elsewhere.
      lockDuration: deps.lockDuration ?? 30_000,
      stalledInterval: (deps.lockDuration ?? 30_000) / 2,
    });
    worker.on('failed', (job: Job | undefined, err) => deps.logger.warn({ queue: name, job: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed'));
    // BullMQ retries its connection and reports every failed attempt (dozens a second during an outage);
    // one line a minute per queue says the same, with how many were folded into it.
    let lastLogged = 0;
    let folded = 0;
    worker.on('error', (err) => {
      const now = Date.now();
      if (now - lastLogged < 60_000) {
        folded += 1;
        return;
      }
      deps.logger.warn({ queue: name, err: err.message, repeats: folded }, 'worker error (the queue connection is retried; repeats within a minute are not logged)');
      lastLogged = now;
      folded = 0;
    });
    worker.on('completed', () => deps.counters?.completed(name));
    worker.on('failed', () => deps.counters?.failed(name));
    workers.push(worker);
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      for (const c of connections) c.disconnect();
    },
  };
}
