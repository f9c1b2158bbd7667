import type { Redis } from 'ioredis';

/**
 * The identity of the Redis server behind the connection: its `run_id`,
 * which changes on every restart and on failover to a replica. Cache stamps
 * and mirrored values carry it, so data written before a failover that lost
 * writes (or a restore from an older snapshot) is never trusted afterwards:
 * in-process caches reload and mirrors are rebuilt from Postgres.
 */
export interface RedisEpoch {
  current(): Promise<string>;
  /** The identity once learnt on the current connection, without waiting (undefined until then). */
  settled(): string | undefined;
}

export function createRedisEpoch(redis: Redis): RedisEpoch {
  let epoch: Promise<string> | undefined;
  let known: string | undefined;
  const load = async () => {
    const info = await redis.info('server');
    const match = /run_id:([0-9a-f]+)/.exec(info);
    if (!match) throw new Error('Redis did not report a run_id');
    return match[1]!;
  };
  // Any reconnect may land on another server (failover): learn its identity again.
  redis.on('close', () => {
    epoch = undefined;
    known = undefined;
  });
  return {
    current() {
      if (!epoch) {
        const loading = load();
        epoch = loading;
        loading.then(
          (id) => {
            if (epoch === loading) known = id;
          },
          () => {
            if (epoch === loading) epoch = undefined;
          },
        );
      }
      return epoch;
    },
    settled: () => known,
  };
}
