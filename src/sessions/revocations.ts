import type { Redis } from 'ioredis';
import type { Database, Tx } from '../db/client.ts';
import { findRevocation, upsertRevocation } from '../queries/revocations.ts';
import { memoPerRequest } from '../runtime/requestContext.ts';
import type { RedisKeys } from './keys.ts';

/**
 * Revocation times per subject: durable in Postgres, mirrored in Redis for the
 * hot path. A missing mirror (flush, failover) is rebuilt from Postgres, so a
 * revocation survives losing Redis data. "0" in the mirror means never revoked.
 */
export interface Revocations {
  /** Epoch seconds before which the subject's tokens are refused, or 0. */
  revokedAt(tenantId: string, subject: string): Promise<number>;
  /** Records a revocation inside the caller's transaction; call `mirror` after commit. */
  record(tx: Tx, tenantId: string, subject: string, at: Date): Promise<void>;
  mirror(tenantId: string, subject: string, at: Date): Promise<void>;
}

const MIRROR_TTL = 7 * 86_400;

export function createRevocations(deps: { db: Database; redis: Redis; keys: RedisKeys }): Revocations {
  const { db, redis, keys } = deps;
  return {
    revokedAt(tenantId, subject) {
      return memoPerRequest(`revoked:${tenantId}:${subject}`, async () => {
        const key = keys.revokedAt(tenantId, subject);
        const mirrored = await redis.get(key);
        if (mirrored !== null) return Number(mirrored);
        const at = await findRevocation(db, tenantId, subject);
        const seconds = at ? Math.floor(at.getTime() / 1000) : 0;
        // NX: never overwrite a newer value a concurrent revoke just mirrored.
        await redis.set(key, String(seconds), 'EX', MIRROR_TTL, 'NX');
        return Number((await redis.get(key)) ?? seconds);
      });
    },
    async record(tx, tenantId, subject, at) {
      await upsertRevocation(tx, tenantId, subject, at);
    },
    async mirror(tenantId, subject, at) {
      await redis.set(keys.revokedAt(tenantId, subject), String(Math.floor(at.getTime() / 1000)), 'EX', MIRROR_TTL);
    },
  };
}
