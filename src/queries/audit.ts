import { and, asc, desc, eq, gt, gte, lt, sql, type SQL } from 'drizzle-orm';
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

/** Allow-listed filters of the audit event list; every value is bound as a parameter. */
export interface AuditFilter {
  /** Exact action, or a prefix such as `role.` when `actionPrefix` is set. */
  action?: string | undefined;
  actionPrefix?: boolean | undefined;
  actorType?: AuditRow['actorType'] | undefined;
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** The WHERE terms of a filter, every value bound as a parameter. */
export function filterConditions(f: AuditFilter): (SQL | undefined)[] {
  return [
    f.action === undefined ? undefined : f.actionPrefix ? sql`starts_with(${auditEvents.action}, ${f.action})` : eq(auditEvents.action, f.action),
    f.actorType === undefined ? undefined : eq(auditEvents.actorType, f.actorType),
    f.actorId === undefined ? undefined : eq(auditEvents.actorId, f.actorId),
    f.targetType === undefined ? undefined : eq(auditEvents.targetType, f.targetType),
    f.targetId === undefined ? undefined : eq(auditEvents.targetId, f.targetId),
    f.since === undefined ? undefined : gte(auditEvents.at, f.since),
    f.until === undefined ? undefined : lt(auditEvents.at, f.until),
  ];
}

/** A tenant's events newest first, strictly before `beforeSeq` when given (served by audit_events_tenant_seq). */
export function listAuditEvents(db: Executor, tenantId: string, filter: AuditFilter, beforeSeq: number | undefined, limit: number): Promise<AuditRow[]> {
  return db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), beforeSeq === undefined ? undefined : lt(auditEvents.seq, beforeSeq), ...filterConditions(filter)))
    .orderBy(desc(auditEvents.seq))
    .limit(limit);
}
