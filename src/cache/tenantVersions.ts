import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { forgetPerRequest, memoPerRequest, rememberPerRequest, settledPerRequest } from '../runtime/requestContext.ts';
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
  /**
   * Both stamps a subject's entitlement needs: the tenant's (graph) and the
   * subject's (tenant and own version together: links and result), in one round trip.
   */
  stamps(tenantId: string, subject: Subject): Promise<SubjectStamps>;
  /**
   * What `current` would answer if this request has read it already, else
   * undefined: the token hot path reads the memo without an `await`.
   */
  settled(tenantId: string): string | undefined;
  /** What `stamps` would answer if this request has read both already, else undefined. */
  settledStamps(tenantId: string, subject: Subject): SubjectStamps | undefined;
  /**
   * Starts reading a subject's stamps for this request without waiting for them, so the read shares a
   * Redis round trip with whatever the request sends next (auto-pipelining batches until the event loop
   * turns). A later `settledStamps` finds them once they have arrived.
   */
  prefetch(tenantId: string, subject: Subject): void;
  /** Invalidates the tenant's caches (default) or only the given subjects' links, on every process. */
  bump(tenantId: string, scope?: ChangeScope): Promise<void>;
}

export interface SubjectStamps {
  tenant: string;
  subject: string;
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

  const tenantMemo = (tenantId: string) => `tenant-version:${tenantId}`;
  const stampsOf = (tenant: string, own: string): SubjectStamps => ({ tenant, subject: `${tenant}|${own}` });

  /**
   * Reads the tenant's version, and with a hint the subject's too in the same MGET. The
   * subject's half is kept for the rest of the request unless it was read already.
   * Written with as few promises as it can be: this runs on every token request.
   */
  async function read(tenantId: string, hint: Subject | undefined): Promise<string> {
    // The server's identity is part of the stamp: a failover that rolled the version back
    // to a value seen before still can't revalidate entries cached before it.
    const server = epoch.settled() ?? (await epoch.current());
    const key = keys.tenantVersion(tenantId);
    if (!hint) return `${server}|${await valueOf(key, await redis.get(key))}`;
    const ownKey = subjectKey(tenantId, hint);
    const [tenantValue, ownValue] = await redis.mget(key, ownKey);
    const memo = memoKey(tenantId, hint);
    if (ownValue && settledPerRequest(memo) === undefined) rememberPerRequest(memo, ownValue);
    else if (!ownValue) void memoPerRequest(memo, () => valueOf(ownKey, null, SUBJECT_VERSION_TTL_S)).catch(() => undefined);
    return `${server}|${tenantValue || (await valueOf(key, null))}`;
  }

  const ownVersion = (tenantId: string, s: Subject) =>
    memoPerRequest(memoKey(tenantId, s), async () => valueOf(subjectKey(tenantId, s), await redis.get(subjectKey(tenantId, s)), SUBJECT_VERSION_TTL_S));

  const versions: TenantVersions = {
    current(tenantId, hint) {
      return memoPerRequest(tenantMemo(tenantId), () => read(tenantId, hint));
    },
    settled: (tenantId) => settledPerRequest<string>(tenantMemo(tenantId)),
    settledStamps(tenantId, s) {
      const tenant = settledPerRequest<string>(tenantMemo(tenantId));
      const own = tenant === undefined ? undefined : settledPerRequest<string>(memoKey(tenantId, s));
      return own === undefined ? undefined : stampsOf(tenant!, own);
    },
    async stamps(tenantId, s) {
      const tenant = await versions.current(tenantId, s);
      // Usually arrived with the tenant's version (same MGET); read on its own when the tenant's came first without a hint.
      return stampsOf(tenant, settledPerRequest<string>(memoKey(tenantId, s)) ?? (await ownVersion(tenantId, s)));
    },
    prefetch(tenantId, s) {
      // A failure here is the later reader's to report: it reads again (failed memos are dropped).
      versions.stamps(tenantId, s).catch(() => undefined);
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
