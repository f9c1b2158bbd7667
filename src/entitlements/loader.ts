import type { Database } from '../db/client.ts';
import { VersionedCache, type Subject, type SubjectStamps, type TenantVersions } from '../cache/tenantVersions.ts';
import { loadClientLinks, loadTenantGraph, loadUserLinks } from '../queries/entitlements.ts';
import { resolveEntitlement, type Entitlement, type SubjectLinks, type TenantGraph } from './resolve.ts';

export type SubjectKind = 'user' | 'client';

/** Cached entitlement lookups for token issuance. */
export interface EntitlementLoader {
  /** Effective capabilities of a subject right now, never older than the last committed change. */
  capabilitiesOf(tenantId: string, kind: SubjectKind, subjectId: string): Promise<readonly string[]>;
  /** The tenant's group and role graph as of its current version (cached; the console's explain and roles views read it). */
  graph(tenantId: string): Promise<TenantGraph>;
}

export interface EntitlementCacheStats {
  hits: number;
  misses: number;
}

/**
 * Wraps the pure resolver with two caches (tenant graph, subject links) and a
 * result memo. The graph is stamped with the tenant version; links and results
 * with the subject's stamp (tenant and subject versions), so any committed
 * change a subject's entitlement depends on invalidates it, on every process.
 */
export function createEntitlementLoader(deps: {
  db: Database;
  versions: TenantVersions;
  maxSubjects?: number;
  stats?: EntitlementCacheStats;
}): EntitlementLoader {
  const { db, versions, stats } = deps;
  const graphs = new VersionedCache<Promise<TenantGraph>>(1_000);
  const linkCache = new VersionedCache<Promise<SubjectLinks>>(deps.maxSubjects ?? 50_000);
  const results = new VersionedCache<Entitlement>(deps.maxSubjects ?? 50_000);

  // Promises are cached (not values) so concurrent misses share one query; failures are evicted.
  function cached<T>(cache: VersionedCache<Promise<T>>, key: string, version: string, load: () => Promise<T>) {
    let hit = cache.get(key, version);
    if (!hit) {
      hit = load();
      cache.set(key, version, hit);
      hit.catch(() => cache.delete(key));
    }
    return hit;
  }

  const resultKey = (tenantId: string, s: Subject) => `${tenantId}:${s.kind}:${s.id}`;

  /** The memoised result under a stamp, if it is still valid (time-bound assignments end it). */
  function memoised(key: string, stamp: string): readonly string[] | undefined {
    const memo = results.get(key, stamp);
    if (!memo || memo.validUntil <= Date.now()) return undefined;
    if (stats) stats.hits++;
    return memo.capabilities;
  }

  async function resolveFresh(tenantId: string, subject: Subject, known: SubjectStamps | undefined): Promise<readonly string[]> {
    const stamps = known ?? (await versions.stamps(tenantId, subject));
    const key = resultKey(tenantId, subject);
    const hit = known ? undefined : memoised(key, stamps.subject);
    if (hit) return hit;
    if (stats) stats.misses++;
    const now = Date.now();
    const [graph, links] = await Promise.all([
      cached(graphs, tenantId, stamps.tenant, () => loadTenantGraph(db, tenantId)),
      cached(linkCache, key, stamps.subject, () => (subject.kind === 'user' ? loadUserLinks(db, subject.id) : loadClientLinks(db, subject.id))),
    ]);
    const result = resolveEntitlement(graph, links, now);
    results.set(key, stamps.subject, result);
    return result.capabilities;
  }

  return {
    async graph(tenantId) {
      const version = await versions.current(tenantId);
      return cached(graphs, tenantId, version, () => loadTenantGraph(db, tenantId));
    },
    capabilitiesOf(tenantId, kind, subjectId) {
      // The graph is stamped with the tenant version; the subject's links and result with the tenant and
      // subject versions together, so one user's membership change leaves every other subject cached.
      // On the token path the stamps are usually in the request's memo already (the client lookup read
      // them): then a cached result is answered without an `await` (each costs promise hooks on Node 20).
      const subject = { kind, id: subjectId };
      const stamps = versions.settledStamps(tenantId, subject);
      const hit = stamps && memoised(resultKey(tenantId, subject), stamps.subject);
      return hit ? Promise.resolve(hit) : resolveFresh(tenantId, subject, stamps);
    },
  };
}
