import type { Database, Tx } from '../db/client.ts';
import type { TenantVersions } from '../cache/tenantVersions.ts';

/** Runs a tenant change in one transaction and invalidates that tenant's caches on every process. */
export interface TenantChange {
  <T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** A consistent read (one transaction, one snapshot of the lists it reads). */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/**
 * The version is bumped before the transaction (so a failure to reach Redis
 * aborts the change) and after commit (so a cache refilled during the commit
 * is discarded). When the call returns, every process sees the change.
 */
export function createTenantChange(deps: { db: Database; versions: TenantVersions }): TenantChange {
  const change = async <T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> => {
    await deps.versions.bump(tenantId);
    const result = await deps.db.transaction(fn);
    await deps.versions.bump(tenantId);
    return result;
  };
  return Object.assign(change, {
    read: <T>(fn: (tx: Tx) => Promise<T>) => deps.db.transaction(fn, { isolationLevel: 'repeatable read', accessMode: 'read only' }),
  });
}
