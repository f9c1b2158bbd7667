import type { Database, Tx } from '../db/client.ts';
import type { ChangeScope, Subject, TenantVersions } from '../cache/tenantVersions.ts';

export type { ChangeScope };

/** Runs a tenant change in one transaction and invalidates the caches it affects on every process. */
export interface TenantChange {
  /**
   * `scope` names what the change can affect. The default, the whole tenant, is always safe; a change
   * that only adds or removes some subjects' own direct roles or group memberships passes those
   * subjects (see `subjectsScope`), so other subjects' cached entitlements stay valid.
   */
  <T>(tenantId: string, fn: (tx: Tx) => Promise<T>, scope?: ChangeScope): Promise<T>;
  /** A consistent read (one transaction, one snapshot of the lists it reads). */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/** Past this many subjects one tenant-wide bump is cheaper than a version per subject. */
const MAX_SUBJECT_BUMPS = 1_000;

/** The scope of a change to the direct links of these users and clients only (tenant-wide when there are many). */
export function subjectsScope(users: readonly string[], clients: readonly string[] = []): ChangeScope {
  const subjects: Subject[] = [...users.map((id) => ({ kind: 'user' as const, id })), ...clients.map((id) => ({ kind: 'client' as const, id }))];
  return subjects.length > MAX_SUBJECT_BUMPS ? { tenant: true } : { subjects };
}

/**
 * The version is bumped before the transaction (so a failure to reach Redis
 * aborts the change) and after commit (so a cache refilled during the commit
 * is discarded). When the call returns, every process sees the change.
 */
export function createTenantChange(deps: { db: Database; versions: TenantVersions }): TenantChange {
  const change = async <T>(tenantId: string, fn: (tx: Tx) => Promise<T>, scope: ChangeScope = { tenant: true }): Promise<T> => {
    await deps.versions.bump(tenantId, scope);
    const result = await deps.db.transaction(fn);
    await deps.versions.bump(tenantId, scope);
    return result;
  };
  return Object.assign(change, {
    read: <T>(fn: (tx: Tx) => Promise<T>) => deps.db.transaction(fn, { isolationLevel: 'repeatable read', accessMode: 'read only' }),
  });
}
