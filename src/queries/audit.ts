import { and, asc, desc, eq, gt, gte, isNotNull, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { auditEvents } from '../db/schema/index.ts';

export type AuditRow = typeof auditEvents.$inferSelect;
export type NewAuditRow = typeof auditEvents.$inferInsert;
/** An event the chainer has linked: the only kind the API, exports and verification read. */
export type ChainedAuditRow = AuditRow & { seq: number; prevHash: string; hash: string };

/** Serialises chaining per tenant (the chainer's short transaction only; changes never take it). */
export async function lockTenantChain(tx: Executor, tenantId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`audit:${tenantId}`}, 0))`);
}

/**
 * A tenant's committed events that are not chained yet, oldest insertion first (audit_events_unchained),
 * with the chain's head (newest chained event; undefined for an empty chain) read by the same
 * statement: the chainer's reads are one round trip. Run under the tenant's chain lock.
 */
export async function unchainedEventsAndHead(tx: Executor, tenantId: string, limit: number): Promise<{ pending: AuditRow[]; head: { seq: number; hash: string } | undefined }> {
  const newest = sql`from ${auditEvents} where ${auditEvents.tenantId} = ${tenantId} and ${auditEvents.seq} is not null order by ${auditEvents.seq} desc limit 1`;
  const rows = await tx
    .select({
      event: auditEvents,
      headSeq: sql<number | null>`(select ${auditEvents.seq} ${newest})`.mapWith((v: unknown) => (v === null ? null : Number(v))),
      headHash: sql<string | null>`(select ${auditEvents.hash} ${newest})`,
    })
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), isNull(auditEvents.seq)))
    .orderBy(asc(auditEvents.pos))
    .limit(limit);
  const first = rows[0];
  const head = first && first.headSeq !== null && first.headHash !== null ? { seq: first.headSeq, hash: first.headHash } : undefined;
  return { pending: rows.map((r) => r.event), head };
}

/** Tenants with events left unchained since before `before` (a crash between commit and chaining). */
export async function tenantsWithUnchained(db: Executor, before: Date): Promise<string[]> {
  const found = await db
    .selectDistinct({ tenantId: auditEvents.tenantId })
    .from(auditEvents)
    .where(and(isNull(auditEvents.seq), lt(auditEvents.at, before)));
  return found.map((r) => r.tenantId);
}

/** How many of a tenant's events are not chained yet. */
export async function countUnchained(db: Executor, tenantId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), isNull(auditEvents.seq)));
  return row?.n ?? 0;
}

/**
 * Writes the chain links of events in one statement. Each column goes as one array literal (every
 * value is a uuid, an integer or a hex digest, so none needs quoting): any batch is four parameters.
 */
export async function setChainLinks(tx: Executor, links: readonly { id: string; seq: number; prevHash: string; hash: string }[]): Promise<void> {
  if (!links.length) return;
  const array = (values: readonly (string | number)[]) => `{${values.join(',')}}`;
  await tx.execute(sql`
    update ${auditEvents} as a set seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
    from unnest(${array(links.map((l) => l.id))}::uuid[], ${array(links.map((l) => l.seq))}::bigint[],
                ${array(links.map((l) => l.prevHash))}::text[], ${array(links.map((l) => l.hash))}::text[])
      as v(id, seq, prev_hash, hash)
    where a.id = v.id and a.seq is null`);
}

export async function insertAuditRows(tx: Executor, rows: NewAuditRow[]): Promise<void> {
  // Batches keep each statement under Postgres' parameter limit.
  for (let i = 0; i < rows.length; i += 1_000) await tx.insert(auditEvents).values(rows.slice(i, i + 1_000));
}

/** Reads a tenant's chain in sequence order, a page at a time. */
export function chainPage(db: Executor, tenantId: string, afterSeq: number, limit: number): Promise<ChainedAuditRow[]> {
  return db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), gt(auditEvents.seq, afterSeq)))
    .orderBy(asc(auditEvents.seq))
    .limit(limit) as Promise<ChainedAuditRow[]>;
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

/** A tenant's chained events newest first, strictly before `beforeSeq` when given (served by audit_events_tenant_seq). */
export function listAuditEvents(db: Executor, tenantId: string, filter: AuditFilter, beforeSeq: number | undefined, limit: number): Promise<ChainedAuditRow[]> {
  return db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), beforeSeq === undefined ? isNotNull(auditEvents.seq) : lt(auditEvents.seq, beforeSeq), ...filterConditions(filter)))
    .orderBy(desc(auditEvents.seq))
    .limit(limit) as Promise<ChainedAuditRow[]>;
}
