import type { Redis } from 'ioredis';
import { StartupError } from '../errors/startup.ts';
import { describeTarget, newRedis, type RedisTarget } from '../redis/connection.ts';

/**
 * The application's Redis connection. No offline queue and a command timeout:
 * while Redis is down every command fails at once, so requests answer 503
 * instead of hanging; ioredis keeps reconnecting in the background.
 */
export function createRedis(target: RedisTarget): Redis {
  return newRedis(target, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
    enableAutoPipelining: true,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
}

/** Thrown when Redis can't be reached at start; the message tells the operator what to do. */
export class RedisUnavailableError extends StartupError {
  override name = 'RedisUnavailableError';
}

export async function connectRedis(redis: Redis, target: RedisTarget): Promise<void> {
  try {
    await redis.connect();
    await redis.ping();
  } catch {
    redis.disconnect();
    throw new RedisUnavailableError(
      `Tessera could not reach Redis at ${describeTarget(target)}. Redis holds sessions, grants and refresh tokens, so Tessera ` +
        `will not start without it. Start one locally with "redis-server --port 6379" (Debian/Ubuntu: "apt-get install redis-server"; ` +
        `macOS: "brew install redis"), or "docker run -p 6379:6379 redis:7", or set REDIS_URL to a reachable Redis 7.0 or newer.`,
    );
  }
}
