import { Counter, Gauge, type Registry } from 'prom-client';
import { QUEUE_NAMES, type Producers, type QueueName } from './queues.ts';

/** Job states reported per queue; the ones BullMQ's getJobCounts knows. */
const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

const SCRAPE_TIMEOUT_MS = 1_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `tessera_jobs{queue,state}`, read from Redis on every scrape, so it is the
 * same whichever process runs the workers.
 */
export function registerJobGauge(registry: Registry, producers: Producers): void {
  new Gauge({
    name: 'tessera_jobs',
    help: 'Jobs per queue and state, read from BullMQ at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const queues = Object.values(QUEUE_NAMES) as QueueName[];
      // BullMQ waits for its connection to come back rather than failing, and a scrape must answer
      // during a Redis outage (that is when it matters most): give up on a queue after a second.
      const counts = await Promise.all(queues.map((q) => withTimeout(producers.queue(q).getJobCounts(...STATES), SCRAPE_TIMEOUT_MS).catch(() => undefined)));
      queues.forEach((queue, i) => {
        // Redis unreachable: leave the queue out rather than fail the whole scrape.
        const c = counts[i];
        if (c) for (const state of STATES) this.set({ queue, state }, c[state] ?? 0);
      });
    },
  });
}

/** Per-process counters of finished jobs, fed by the workers' events. */
export interface JobCounters {
  completed(queue: string): void;
  failed(queue: string): void;
}

export function createJobCounters(registry: Registry): JobCounters {
  const completed = new Counter({ name: 'tessera_jobs_completed_total', help: 'Jobs completed by this process, by queue', labelNames: ['queue'] as const, registers: [registry] });
  const failed = new Counter({ name: 'tessera_jobs_failed_total', help: 'Job attempts that failed in this process (retries included), by queue', labelNames: ['queue'] as const, registers: [registry] });
  return { completed: (queue) => completed.inc({ queue }), failed: (queue) => failed.inc({ queue }) };
}
