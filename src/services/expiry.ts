import { assignmentExpiry, listExpiredAssignments, type ExpiringAssignment } from '../queries/assignmentExpiry.ts';
import type { AssignmentEngine } from './assignments.ts';
import type { TenantChange } from './change.ts';

export type ExpireOutcome = 'removed' | 'gone' | 'not_yet';

/**
 * Removal of expired assignments (SPEC §5): the row goes and `role.unassigned`
 * with reason "expired" is written in the same transaction. Both entry points
 * are idempotent: a second run finds nothing and writes nothing.
 */
export function createExpiryService(deps: { change: TenantChange; assignments: AssignmentEngine }) {
  const { change, assignments } = deps;

  /** Deletes the given assignments of one tenant that are (still) expired; returns how many went. */
  async function removeExpired(tenantId: string, items: (Omit<ExpiringAssignment, 'expiresAt'> & { expiresAt?: Date })[]): Promise<number> {
    return change(tenantId, (tx) => assignments.expire(tx, tenantId, items));
  }

  return {
    /** Removes one assignment if it still carries `expiresAt` and that moment has passed. */
    async expire(a: ExpiringAssignment): Promise<ExpireOutcome> {
      // A read first, so a retry or a stale job (expiry changed, row removed) doesn't bump the tenant's caches.
      const current = await change.read((tx) => assignmentExpiry(tx, a));
      if (!current || current.getTime() !== a.expiresAt.getTime()) return 'gone';
      if (current.getTime() > Date.now()) return 'not_yet';
      // Zero here means the sweep got there first, or Postgres' clock is a little behind ours: check again later.
      return (await removeExpired(a.tenantId, [a])) ? 'removed' : 'not_yet';
    },

    /** Removes every expired assignment across tenants, `batchSize` at a time; returns how many went. */
    async sweep(batchSize = 1_000): Promise<number> {
      let total = 0;
      for (;;) {
        const batch = await change.read((tx) => listExpiredAssignments(tx, batchSize));
        const byTenant = new Map<string, ExpiringAssignment[]>();
        for (const a of batch) byTenant.set(a.tenantId, [...(byTenant.get(a.tenantId) ?? []), a]);
        let removed = 0;
        // Without the expiry: any expired row goes, whatever expiry it had when listed.
        for (const [tenantId, items] of byTenant) removed += await removeExpired(tenantId, items.map(({ expiresAt: _, ...rest }) => rest));
        total += removed;
        // A batch that removed nothing would list the same rows again (changed concurrently); the next sweep sees them.
        if (batch.length < batchSize || removed === 0) return total;
      }
    },
  };
}

export type ExpiryService = ReturnType<typeof createExpiryService>;
