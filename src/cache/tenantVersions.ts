import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { forgetPerRequest, memoPerRequest } from '../runtime/requestContext.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { RedisEpoch } from './redisEpoch.ts';

/** A principal whose own links (direct roles, group memberships) can change without the tenant graph changing. */
export interface Subject {
  kind: 'user' | 'client';
  id: string;
}

/** What a change touches: the whole tenant, or only the links of some subjects. */
export type ChangeScope = { tenant: true } | { subjects: readonly Subject[] };

/**
 * Cache coherence across processes. Each tenant has a random version token in
 * Redis, and so has each subject (user or service client) whose links changed:
 *
 * - the tenant version changes with anything a token can depend on (roles,
 *   groups and their nesting, group roles, users, clients, revocations...);
 * - a subject version changes only with that subject's own direct roles and
 *   group memberships, so a directory sync adding one user to a group does
 *   not evict every other subject's cached entitlement (issue 14).
 *
 * Entries that depend on tenant data are stamped with the tenant version;
 * a subject's links and entitlement with the tenant and subject versions
 * together (`subject`), so either change invalidates them. Writers bump the
 * token(s) before their transaction and again after it commits (see
 * `services/change.ts`), so once a change is acknowledged no process can
 * serve data older than it. Random tokens (not counters) mean a flushed or
 * evicted key can never make an old stamp look current again: a missing key
 * is started afresh with a new random value, which is also why subject keys
 * may expire.
 */
export interface TenantVersions {
  /**
   * The tenant's current version; read at most once per request. A caller that
   * knows which subject the request is about passes it, so the subject's
   * version comes back in the same round trip for `subject` to use.
   */
  current(tenantId: string, hint?: Subject): Promise<string>;
  /** The stamp of one subject's links: its tenant's version and its own. */
  subject(tenantId: string, subject: Subject): Promise<string>;
  /** Invalidates the tenant's caches (default) or only the given subjects' links, on every process. */
  bump(tenantId: string, scope?: ChangeScope): Promise<void>;
}

/** Subject versions expire when untouched: a missing one restarts at a new random value, so nothing stale matches. */
const SUBJECT_VERSION_TTL_S = 7 * 86_400;

export function createTenantVersions(deps: { redis: Redis; keys: RedisKeys; epoch: RedisEpoch }): TenantVersions {
  const { redis, keys, epoch } = deps;
  const subjectKey = (tenantId: string, s: Subject) => keys.subjectVersion(tenantId, s.kind, s.id);
  const memoKey = (tenantId: string, s: Subject) => `subject-version:${tenantId}:${s.kind}:${s.id}`;

  /** A key's value, or a fresh random one when it is missing (first use, eviction, expiry or flush); whoever wins NX defines it. */
  async function valueOf(key: string, value: string | null, ttl?: number): Promise<string> {
    if (value) return value;
    if (ttl) await redis.set(key, randomUUID(), 'EX', ttl, 'NX');
    else await redis.set(key, randomUUID(), 'NX');
    return (await redis.get(key)) ?? randomUUID();
  }

  const versions: TenantVersions = {
    current(tenantId, hint) {
      return memoPerRequest(`tenant-version:${tenantId}`, async () => {
        // The server's identity is part of the stamp: a failover that rolled the version back
        // to a value seen before still can't revalidate entries cached before it.
        const key = keys.tenantVersion(tenantId);
        if (!hint) {
          const [server, value] = await Promise.all([epoch.current(), redis.get(key)]);
          return `${server}|${await valueOf(key, value)}`;
        }
        const server = epoch.current();
        const both = redis.mget(key, subjectKey(tenantId, hint));
        // The subject's half is kept for the rest of the request (unless it was read already).
        void memoPerRequest(memoKey(tenantId, hint), async () => valueOf(subjectKey(tenantId, hint), (await both)[1] ?? null, SUBJECT_VERSION_TTL_S)).catch(() => undefined);
        const [tenantValue] = await both;
        return `${await server}|${await valueOf(key, tenantValue ?? null)}`;
      });
    },
    async subject(tenantId, s) {
      const [tenant, own] = await Promise.all([
        versions.current(tenantId, s),
        memoPerRequest(memoKey(tenantId, s), async () => valueOf(subjectKey(tenantId, s), await redis.get(subjectKey(tenantId, s)), SUBJECT_VERSION_TTL_S)),
      ]);
      return `${tenant}|${own}`;
    },
    async bump(tenantId, scope = { tenant: true }) {
      // What this request changes, it must itself see afresh for the rest of the request (a later check
      // in the same request reads the graph as of the new version, not the one memoised before).
      if ('tenant' in scope) {
        forgetPerRequest(`tenant-version:${tenantId}`);
        await redis.set(keys.tenantVersion(tenantId), randomUUID());
        return;
      }
      for (const s of scope.subjects) forgetPerRequest(memoKey(tenantId, s));
      if (!scope.subjects.length) return;
      const pipeline = redis.pipeline();
      for (const s of scope.subjects) pipeline.set(subjectKey(tenantId, s), randomUUID(), 'EX', SUBJECT_VERSION_TTL_S);
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error('Redis did not answer the version bump');
    },
  };
  return versions;
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
