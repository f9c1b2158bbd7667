import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { countExportEvents, exportChunks, insertAuditExport, maxAuditSeq } from '../../queries/exports.ts';
import { findJob, updateJob } from '../../queries/jobs.ts';
import type { AuditFilter } from '../../queries/audit.ts';
import type { AuditLog } from '../audit.ts';
import { CSV_HEADER, pieceOf } from './format.ts';
import { writeGzipFile } from './writer.ts';

/** The job input as stored: the validated filter (dates as ISO strings) and the format. */
export const exportInput = z.object({
  format: z.enum(['ndjson', 'csv']),
  filter: z.object({
    action: z.string().optional(),
    actionPrefix: z.boolean().optional(),
    actorType: z.enum(['user', 'client', 'system']).optional(),
    actorId: z.string().optional(),
    targetType: z.string().optional(),
    targetId: z.string().optional(),
    since: z.iso.datetime().optional(),
    until: z.iso.datetime().optional(),
  }),
});
export type ExportInput = z.infer<typeof exportInput>;

export interface ExportResult {
  export_id: string;
  rows: number;
  sha256: string;
  bytes: number;
  download_url: string;
  through_seq: number;
  expires_at: string;
}

export interface RunDeps {
  db: Database;
  driver: 'pg' | 'pglite';
  audit: AuditLog;
  dir: string;
  ttlMs: number;
  issuer: string;
  /** Chunks (of up to 1,000 events, ~0.5 MB) per FETCH; 2 keeps a write near 1 MB (see bench/export.ts). */
  chunksPerFetch?: number;
}

const toFilter = (f: ExportInput['filter']): AuditFilter => ({ ...f, since: f.since ? new Date(f.since) : undefined, until: f.until ? new Date(f.until) : undefined });

/** A UUID derived from a name, so a retried job finds the event it already wrote. */
export function derivedUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Where an export's file lives: one folder per tenant, one file per job. */
export const exportPath = (dir: string, tenantId: string, jobId: string, format: string) => join(dir, tenantId, `${jobId}.${format}.gz`);

const PROGRESS_EVERY_MS = 1_000;

/**
 * Runs one export job; safe to run again after a crash at any point. The
 * first attempt pins the export to the tenant's newest seq and stores it on
 * the job row before reading, so a retry reads exactly the same events and
 * writes byte-identical content (same rows, same SHA-256).
 */
export async function runExport(deps: RunDeps, jobId: string): Promise<ExportResult> {
  const { db } = deps;
  const job = await findJob(db, jobId);
  if (!job || job.type !== 'audit_export') throw new UnrecoverableError(`no audit export job ${jobId}`);
  if (job.status === 'completed') return job.result as ExportResult;
  const parsed = exportInput.safeParse(job.input);
  if (!parsed.success) throw new UnrecoverableError('the export job input is not valid');
  const { format, filter } = parsed.data;

  const pinned = (job.result as { through_seq?: unknown } | null)?.through_seq;
  const throughSeq = typeof pinned === 'number' ? pinned : await maxAuditSeq(db, job.tenantId);
  if (typeof pinned !== 'number') await updateJob(db, jobId, { status: 'running', result: { through_seq: throughSeq } });
  const total = await countExportEvents(db, job.tenantId, toFilter(filter), throughSeq);
  await updateJob(db, jobId, { status: 'running', progressDone: 0, progressTotal: total });

  const path = exportPath(deps.dir, job.tenantId, jobId, format);
  const batches = exportChunks(db, deps.driver, format, { tenantId: job.tenantId, filter: toFilter(filter), throughSeq, chunksPerFetch: deps.chunksPerFetch ?? 1 });
  let lastProgress = Date.now();
  const written = await writeGzipFile(
    path,
    (async function* () {
      if (format === 'csv') yield { parts: [CSV_HEADER], rows: 0 };
      for await (const batch of batches) yield pieceOf(batch);
    })(),
    {
      onRows: async (rows) => {
        if (Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = Date.now();
        await updateJob(db, jobId, { progressDone: rows });
      },
    },
  );

  const result: ExportResult = {
    export_id: jobId,
    rows: written.rows,
    sha256: written.sha256,
    bytes: written.bytes,
    download_url: `${deps.issuer}/api/v1/audit-exports/${jobId}/download`,
    through_seq: throughSeq,
    expires_at: new Date(Date.now() + deps.ttlMs).toISOString(),
  };
  // The record, its audit event and the job's completion commit together.
  await db.transaction(async (tx) => {
    const inserted = await insertAuditExport(tx, {
      id: jobId,
      tenantId: job.tenantId,
      jobId,
      format,
      filePath: path,
      rowCount: written.rows,
      sha256: written.sha256,
      bytes: written.bytes,
      expiresAt: new Date(result.expires_at),
    });
    if (inserted) {
      await deps.audit.record(tx, job.tenantId, {
        id: derivedUuid(`audit.exported:${jobId}`),
        actor: { type: job.actorType, id: job.actorId },
        action: 'audit.exported',
        target: { type: 'audit_export', id: jobId },
        data: { format, filter, rows: written.rows, sha256: written.sha256, bytes: written.bytes, through_seq: throughSeq },
      });
    }
    await updateJob(tx, jobId, { status: 'completed', result, progressDone: written.rows, progressTotal: total, finishedAt: new Date() });
  });
  return result;
}
