import type { Redis } from 'ioredis';
import type { Database, Tx } from '../db/client.ts';
import { findRevocation, upsertRevocation } from '../queries/revocations.ts';
import { memoPerRequest } from '../runtime/requestContext.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { RedisEpoch } from '../cache/redisEpoch.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';

/**
 * Revocation times per subject: durable in Postgres, mirrored in Redis for the
 * hot path. A missing mirror (flush) or one written under another Redis server
 * identity (restart, failover, restore) is rebuilt from Postgres, so a
 * revocation survives Redis losing writes. "0" in the mirror means never revoked.
 */
export interface Revocations {
  /** Epoch seconds before which the subject's tokens are refused, or 0. */
  revokedAt(tenantId: string, subject: string): Promise<number>;
  /** Records a revocation inside the caller's transaction (Postgres, and the Redis mirror before commit). */
  record(tx: Tx, tenantId: string, subject: string, at: Date): Promise<void>;
  mirror(tenantId: string, subject: string, at: Date): Promise<void>;
}

const MIRROR_TTL = 7 * 86_400;

/** Mirror values are `<redis run_id> <epoch seconds>`; a value from another server is not trusted. */
function parse(value: string | null, server: string): number | undefined {
  if (value === null) return undefined;
  const [written, seconds] = value.split(' ');
  return written === server && seconds !== undefined ? Number(seconds) : undefined;
}

export function createRevocations(deps: { db: Database; redis: Redis; keys: RedisKeys; epoch: RedisEpoch; versions: TenantVersions }): Revocations {
  const { db, redis, keys, epoch, versions } = deps;
  // Revocations are tenant changes (they bump the tenant version), so a per-process copy stamped with
  // the version is exact and spares the token path a Redis read per request.
  const cache = new VersionedCache<number>(50_000);
  return {
    async revokedAt(tenantId, subject) {
      const version = await versions.current(tenantId);
      const cacheKey = `${tenantId}:${subject}`;
      const hit = cache.get(cacheKey, version);
      if (hit !== undefined) return hit;
      const value = await readMirror(tenantId, subject);
      cache.set(cacheKey, version, value);
      return value;
    },
    async record(tx, tenantId, subject, at) {
      await upsertRevocation(tx, tenantId, subject, at);
      // Mirrored before commit, so no process can cache an older value once the post-commit version bump
      // is visible. If the commit then fails, the mirror errs on the side of refusing.
      await this.mirror(tenantId, subject, at);
    },
    async mirror(tenantId, subject, at) {
      const server = await epoch.current();
      await redis.set(keys.revokedAt(tenantId, subject), `${server} ${Math.floor(at.getTime() / 1000)}`, 'EX', MIRROR_TTL);
    },
  };

  function readMirror(tenantId: string, subject: string): Promise<number> {
    return memoPerRequest(`revoked:${tenantId}:${subject}`, async () => {
      const key = keys.revokedAt(tenantId, subject);
      const [server, mirrored] = await Promise.all([epoch.current(), redis.get(key)]);
      const trusted = parse(mirrored, server);
      if (trusted !== undefined) return trusted;
      // Missing, or written before a restart or failover that may have lost a newer value.
      if (mirrored !== null) await redis.del(key);
      const at = await findRevocation(db, tenantId, subject);
      const seconds = at ? Math.floor(at.getTime() / 1000) : 0;
      // NX: never overwrite a newer value a concurrent revoke mirrored after our read.
      await redis.set(key, `${server} ${seconds}`, 'EX', MIRROR_TTL, 'NX');
      return parse(await redis.get(key), server) ?? seconds;
    });
  }
}
