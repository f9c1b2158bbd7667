import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { newRedis, type RedisTarget } from '../redis/connection.ts';

/**
 * The queue registry: every queue's name, payload type and producer, in one
 * place. Payloads stay small (ids); what a job works on lives in Postgres
 * (the `jobs` row), so a 100,000-user request never sits in Redis.
 */
export const QUEUE_NAMES = {
  bulkRoles: 'bulk-role-assignments',
  auditExports: 'audit-exports',
  expiry: 'assignment-expiry',
} as const;

export interface BulkRolePayload {
  jobId: string;
  tenantId: string;
}

export interface AuditExportPayload {
  jobId: string;
  tenantId: string;
}

/** One time-bound assignment to remove when it expires, or a sweep of every expired one. */
export type ExpiryPayload =
  | { kind: 'assignment'; tenantId: string; subject: 'user' | 'group' | 'client'; subjectId: string; roleId: string; expiresAt: string }
  | { kind: 'sweep' };

export interface PayloadOf {
  [QUEUE_NAMES.bulkRoles]: BulkRolePayload;
  [QUEUE_NAMES.auditExports]: AuditExportPayload;
  [QUEUE_NAMES.expiry]: ExpiryPayload;
}

export type QueueName = keyof PayloadOf;

/** Retries with backoff; a job that can never succeed throws UnrecoverableError instead. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * BullMQ connections. Workers block on Redis, so they need
 * `maxRetriesPerRequest: null`; producers must fail fast instead (503 when
 * Redis is down), so theirs has no offline queue.
 */
export function bullConnection(target: RedisTarget, role: 'producer' | 'worker'): Redis {
  const conn = newRedis(target, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  conn.on('error', () => undefined); // reconnects by itself; failures surface on commands
  return conn;
}

export interface Producers {
  add<N extends QueueName>(name: N, payload: PayloadOf[N], opts?: JobsOptions): Promise<void>;
  queue(name: QueueName): Queue;
  close(): Promise<void>;
}

/** Producers for every queue, sharing one connection. */
export function createProducers(deps: { redis: RedisTarget; prefix: string }): Producers {
  const connection = bullConnection(deps.redis, 'producer');
  const queues = new Map<QueueName, Queue>();
  const queue = (name: QueueName) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection, prefix: deps.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      q.on('error', () => undefined);
      queues.set(name, q);
    }
    return q;
  };
  return {
    queue,
    async add(name, payload, opts) {
      await queue(name).add(name, payload, opts);
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      connection.disconnect();
    },
  };
}
