import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { memoPerRequest } from '../runtime/requestContext.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { RedisEpoch } from './redisEpoch.ts';

/**
 * Cache coherence across processes. Each tenant has a random version token in
 * Redis; every cache entry that depends on tenant data is stamped with the
 * version it was loaded under and is used only while the token is unchanged.
 *
 * Writers bump the token before their transaction and again after it commits
 * (see `services/change.ts`), so once a change is acknowledged no process can
 * serve data older than it. Random tokens (not counters) mean a flushed Redis
 * can never make an old stamp look current again.
 */
export interface TenantVersions {
  /** The tenant's current version; read at most once per request. */
  current(tenantId: string): Promise<string>;
  /** Invalidates every cache entry of the tenant, on every process. */
  bump(tenantId: string): Promise<void>;
}

export function createTenantVersions(deps: { redis: Redis; keys: RedisKeys; epoch: RedisEpoch }): TenantVersions {
  const { redis, keys, epoch } = deps;
  return {
    current(tenantId) {
      return memoPerRequest(`tenant-version:${tenantId}`, async () => {
        const key = keys.tenantVersion(tenantId);
        // The server's identity is part of the stamp: a failover that rolled the version back
        // to a value seen before still can't revalidate entries cached before it.
        const [server, value] = await Promise.all([epoch.current(), redis.get(key)]);
        if (value) return `${server}|${value}`;
        // Lost (first use, eviction or flush): start afresh. Whoever wins NX defines it.
        await redis.set(key, randomUUID(), 'NX');
        return `${server}|${(await redis.get(key)) ?? randomUUID()}`;
      });
    },
    async bump(tenantId) {
      await redis.set(keys.tenantVersion(tenantId), randomUUID());
    },
  };
}

/**
 * A small map cache whose entries carry the version they were loaded under.
 * Bounded so a tenant with many subjects cannot grow memory without limit.
 */
export class VersionedCache<V> {
  private readonly entries = new Map<string, { version: string; value: V }>();

  constructor(private readonly maxEntries: number) {}

  get(key: string, version: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.version !== version) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, version: string, value: V): void {
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest insertion; Map iterates in insertion order.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { version, value });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
