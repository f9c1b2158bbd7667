import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';

/** One entry of the revocation feed: every token of `sub` issued at or before `revoked_at` is dead. */
export interface RevocationEvent {
  /** Stream entry id; SSE clients resume from it with Last-Event-ID. */
  id: string;
  tid: string;
  sub: string;
  /** Epoch seconds. */
  revoked_at: number;
}

/** How many recent revocations a tenant's stream keeps for reconnecting subscribers. */
export const FEED_RETENTION = 10_000;

/**
 * Publishing side of the revocation feed: appends to the tenant's Redis
 * stream (for replay) and announces the entry on a pub/sub channel (for
 * subscribers on every process), in one MULTI.
 */
export function createFeedPublisher(deps: { redis: Redis; keys: RedisKeys }) {
  const { redis, keys } = deps;
  return {
    async publish(tenantId: string, subject: string, at: Date): Promise<RevocationEvent> {
      const revokedAt = String(Math.floor(at.getTime() / 1000));
      const stream = keys.revocationStream(tenantId);
      const [[, id]] = (await redis
        .multi()
        .xadd(stream, 'MAXLEN', '~', String(FEED_RETENTION), '*', 'sub', subject, 'revoked_at', revokedAt)
        .exec()) as [[Error | null, string]];
      const event: RevocationEvent = { id, tid: tenantId, sub: subject, revoked_at: Number(revokedAt) };
      await redis.publish(keys.revocationChannel(), JSON.stringify(event));
      return event;
    },
  };
}

export type FeedPublisher = ReturnType<typeof createFeedPublisher>;
