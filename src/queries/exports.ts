import { and, asc, eq, isNotNull, lt, lte, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { rows, type Database, type Executor } from '../db/client.ts';
import { auditEvents, auditExports } from '../db/schema/index.ts';
import { filterConditions, type AuditFilter } from './audit.ts';

export type AuditExportRow = typeof auditExports.$inferSelect;

export type ExportFormat = 'ndjson' | 'csv';

const e = auditEvents;
/** A JSON string literal (or null) of a text column, escaped by Postgres. */
const json = (col: SQL | AnyColumn) => sql`coalesce(to_json(${col})::text, 'null')`;
/**
 * An RFC 4180 field: quoted (quotes doubled) when it holds a comma, quote or
 * line break; null is empty. A value a spreadsheet would run as a formula
 * (starting with = + - @, tab or carriage return; OWASP "CSV injection") gets a
 * leading apostrophe inside quotes, so Excel and LibreOffice show it as text.
 */
const csv = (col: SQL | AnyColumn) =>
  sql`case when ${col} is null then '' when ${col} ~ '^[=+@-]' or left(${col}, 1) in (chr(9), chr(13)) then '"''' || replace(${col}, '"', '""') || '"' when ${col} ~ '[",\r\n]' then '"' || replace(${col}, '"', '""') || '"' else ${col} end`;
const at = sql`to_char(${e.at} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Each event's line is built in SQL: one text column per row crosses the
 * wire, and Node neither parses 14 columns (Dates, jsonb) nor serialises
 * them again, which was most of the export's time (bench/export.ts). The
 * NDJSON object has the fields and key order of GET /audit-events; `data` is
 * Postgres' jsonb text (valid JSON, deterministic for a given value).
 */
const LINE: Record<ExportFormat, SQL> = {
  ndjson: sql`'{"id":"' || ${e.id} || '","tenant":"' || ${e.tenantId} || '","at":"' || ${at} || '","actor":{"type":"' || ${e.actorType} || '","id":' || ${json(e.actorId)}
    || '},"action":' || ${json(e.action)} || ',"target":' || case when ${e.targetType} is not null and ${e.targetId} is not null then '{"type":' || ${json(e.targetType)} || ',"id":' || ${json(e.targetId)} || '}' else 'null' end
    || ',"data":' || ${e.data}::text || ',"parent_id":' || coalesce('"' || ${e.parentId} || '"', 'null') || ',"request_id":' || ${json(e.requestId)}
    || ',"seq":' || ${e.seq} || ',"hash":"' || ${e.hash} || '","prev_hash":"' || ${e.prevHash} || '"}' || chr(10)`,
  csv: sql`${e.id} || ',' || ${e.tenantId} || ',' || ${at} || ',' || ${e.actorType} || ',' || ${csv(e.actorId)} || ',' || ${csv(e.action)} || ',' || ${csv(e.targetType)} || ',' || ${csv(e.targetId)}
    || ',' || ${csv(sql`${e.data}::text`)} || ',' || coalesce(${e.parentId}::text, '') || ',' || ${csv(e.requestId)} || ',' || ${e.seq} || ',' || ${e.hash} || ',' || ${e.prevHash} || chr(13) || chr(10)`,
};

/** The CSV header record. */
export const CSV_HEADER = 'id,tenant,at,actor_type,actor_id,action,target_type,target_id,data,parent_id,request_id,seq,hash,prev_hash\r\n';

/** The seq of a tenant's newest event (0 for none): the upper bound that makes an export repeatable. */
export async function maxAuditSeq(db: Executor, tenantId: string): Promise<number> {
  const [row] = await rows<{ max: string | null }>(db, sql`select max(seq)::text as max from ${auditEvents} where ${auditEvents.tenantId} = ${tenantId}`);
  return Number(row?.max ?? 0);
}

/** Seq numbers per chunk: a chunk holds at most this many events (about 0.5 MB of NDJSON). */
export const CHUNK_SEQS = 500;

/** Consecutive chunks of an export: their events' lines joined in seq order, with their count. */
export interface ExportChunk {
  /** The chunk's number: it holds seqs (b × CHUNK_SEQS, (b + 1) × CHUNK_SEQS]. */
  b: string;
  n: number;
  text: string;
}

type ChunkQuery = { tenantId: string; filter: AuditFilter; throughSeq: number };

/**
 * The chunks numbered from..to, in order. Postgres joins each chunk's lines
 * (string_agg over one index range scan), so Node receives one ~0.5 MB string
 * per thousand events instead of a thousand small ones: a far lower
 * allocation rate, which is what keeps the worker's memory flat. Chunks the
 * filter leaves empty are skipped.
 */
function chunks(format: ExportFormat, q: ChunkQuery, from: number, to: number): SQL {
  const inChunk = and(
    eq(e.tenantId, q.tenantId),
    sql`${e.seq} > chunk.b * ${CHUNK_SEQS}`,
    sql`${e.seq} <= least((chunk.b + 1) * ${CHUNK_SEQS}, ${q.throughSeq}::bigint)`,
    ...filterConditions(q.filter),
  );
  return sql`select chunk.b::text as b, agg.n::int as n, agg.text
    from generate_series(${from}::bigint, ${to}::bigint) as chunk(b)
    cross join lateral (select count(*) as n, string_agg(l.line, '' order by l.seq) as text
      from (select ${e.seq} as seq, ${LINE[format]} as line from ${e} where ${inChunk}) l) agg
    where agg.n > 0`;
}

/** How many events an export will hold (for progress). */
export async function countExportEvents(db: Executor, tenantId: string, filter: AuditFilter, throughSeq: number): Promise<number> {
  const [row] = await rows<{ n: string }>(
    db,
    sql`select count(*)::text as n from ${auditEvents} where ${and(eq(auditEvents.tenantId, tenantId), lte(auditEvents.seq, throughSeq), ...filterConditions(filter))}`,
  );
  return Number(row?.n ?? 0);
}

const dialect = new PgDialect();

/**
 * A tenant's matching events with seq ≤ throughSeq, rendered, in seq order,
 * a few chunks at a time, in constant memory. On Postgres a server-side
 * cursor inside one read-only transaction streams them; PGlite has a single
 * connection that a long transaction would hold from every request, so there
 * it pages through the chunk numbers instead.
 */
export async function* exportChunks(db: Database, driver: 'pg' | 'pglite', format: ExportFormat, q: ChunkQuery & { chunksPerFetch: number }): AsyncGenerator<ExportChunk[]> {
  const last = Math.ceil(q.throughSeq / CHUNK_SEQS) - 1;
  let expected = -1;
  // Nested-loop output follows generate_series, so chunks arrive in order; checked rather than assumed.
  const ordered = (batch: ExportChunk[]) => {
    for (const c of batch) {
      if (Number(c.b) <= expected) throw new Error('audit export chunks arrived out of order');
      expected = Number(c.b);
    }
    return batch;
  };
  if (driver === 'pglite') {
    for (let from = 0; from <= last; from += q.chunksPerFetch) {
      const page = await rows<ExportChunk>(db, chunks(format, q, from, Math.min(last, from + q.chunksPerFetch - 1)));
      if (page.length) yield ordered(page);
    }
    return;
  }
  // A generator cannot yield from inside db.transaction's callback, so the
  // transaction is driven by hand on one pooled client.
  const pool = (db as unknown as { $client: import('pg').Pool }).$client;
  const client = await pool.connect();
  let broken = false;
  let open = false;
  try {
    await client.query('begin isolation level repeatable read read only');
    open = true;
    const { sql: text, params } = dialect.sqlToQuery(chunks(format, q, 0, last));
    await client.query(`declare audit_export no scroll cursor for ${text}`, params);
    const fetchNext = () => client.query<ExportChunk>(`fetch ${q.chunksPerFetch} from audit_export`);
    // The next FETCH is already on its way while the consumer compresses this batch: Postgres and gzip overlap.
    let next = fetchNext();
    for (;;) {
      const res = await next;
      const more = res.rows.length === q.chunksPerFetch;
      if (more) {
        next = fetchNext();
        next.catch(() => undefined); // awaited on the next turn; an early return must not leave it unhandled
      }
      if (res.rows.length) yield ordered(res.rows);
      if (!more) break;
    }
    await client.query('commit');
    open = false;
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    // Also reached when the consumer stops early (return()): roll back so the client goes back clean.
    if (open && !broken) await client.query('rollback').catch(() => undefined);
    // A client that failed mid-transaction is discarded rather than returned dirty.
    client.release(broken);
  }
}
/** Records a finished export; a retried job finds its row already there and leaves it. */
export async function insertAuditExport(db: Executor, row: typeof auditExports.$inferInsert): Promise<boolean> {
  const inserted = await db.insert(auditExports).values(row).onConflictDoNothing({ target: auditExports.id }).returning({ id: auditExports.id });
  return inserted.length > 0;
}

export async function findTenantExport(db: Executor, tenantId: string, id: string): Promise<AuditExportRow | undefined> {
  const [row] = await db
    .select()
    .from(auditExports)
    .where(and(eq(auditExports.tenantId, tenantId), eq(auditExports.id, id)))
    .limit(1);
  return row;
}

/** Exports past their expiry whose file is still on disk, oldest first. */
export function expiredExportFiles(db: Executor, now: Date, limit: number): Promise<{ id: string; filePath: string | null }[]> {
  return db
    .select({ id: auditExports.id, filePath: auditExports.filePath })
    .from(auditExports)
    .where(and(lt(auditExports.expiresAt, now), isNotNull(auditExports.filePath)))
    .orderBy(asc(auditExports.expiresAt))
    .limit(limit);
}

export async function clearExportFile(db: Executor, id: string): Promise<void> {
  await db.update(auditExports).set({ filePath: null }).where(eq(auditExports.id, id));
}
