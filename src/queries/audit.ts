import { and, asc, desc, eq, gt, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { auditEvents } from '../db/schema/index.ts';

export type AuditRow = typeof auditEvents.$inferSelect;
export type NewAuditRow = typeof auditEvents.$inferInsert;

/** Serialises audit appends per tenant for the rest of the transaction. */
export async function lockTenantChain(tx: Executor, tenantId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`audit:${tenantId}`}, 0))`);
}

/** The newest event of a tenant's chain, or undefined for an empty chain. */
export async function chainHead(tx: Executor, tenantId: string): Promise<{ seq: number; hash: string } | undefined> {
  const [row] = await tx
    .select({ seq: auditEvents.seq, hash: auditEvents.hash })
    .from(auditEvents)
    .where(eq(auditEvents.tenantId, tenantId))
    .orderBy(desc(auditEvents.seq))
    .limit(1);
  return row;
}

export async function insertAuditRows(tx: Executor, rows: NewAuditRow[]): Promise<void> {
  // Batches keep each statement under Postgres' parameter limit.
  for (let i = 0; i < rows.length; i += 1_000) await tx.insert(auditEvents).values(rows.slice(i, i + 1_000));
}

/** Reads a tenant's chain in sequence order, a page at a time. */
export function chainPage(db: Executor, tenantId: string, afterSeq: number, limit: number): Promise<AuditRow[]> {
  return db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), gt(auditEvents.seq, afterSeq)))
    .orderBy(asc(auditEvents.seq))
    .limit(limit);
}
