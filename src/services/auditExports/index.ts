import { createReadStream, type ReadStream } from 'node:fs';
import { once } from 'node:events';
import { unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/client.ts';
import { AppError, notFound } from '../../errors/index.ts';
import { clearExportFile, expiredExportFiles, findTenantExport, type AuditExportRow } from '../../queries/exports.ts';
import type { AuditFilter } from '../../queries/audit.ts';
import type { AuditLog } from '../audit.ts';
import type { Access } from '../authority.ts';
import type { JobService, JobView } from '../jobs.ts';
import type { ExportFormat } from './format.ts';
import { exportPath, runExport, type ExportInput, type RunDeps } from './run.ts';

export interface AuditExportConfig {
  /** Folder the finished files go to (TESSERA_EXPORT_DIR). */
  dir: string;
  /** How long a file can be downloaded (TESSERA_EXPORT_TTL_HOURS). */
  ttlMs: number;
  issuer: string;
}

const gone = () => new AppError(410, 'export_expired', 'this export has expired and its file was removed; start a new export');
const ignoreMissing = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'ENOENT') throw err;
};

/** Audit exports (SPEC §9): requesting one as a job, running it, serving and expiring its file. */
export function createAuditExportService(deps: { db: Database; driver: 'pg' | 'pglite'; audit: AuditLog; jobs: JobService; config: AuditExportConfig }) {
  const { db } = deps;
  const runDeps: RunDeps = { db, driver: deps.driver, audit: deps.audit, ...deps.config };
  return {
    /** The public base of download links. */
    issuer: deps.config.issuer,

    /** Queues an export of the tenant's events matching `filter`; answers with the job. */
    request(access: Access, input: { format: ExportFormat; filter: AuditFilter }): Promise<JobView> {
      const { since, until, ...rest } = input.filter;
      const filter: ExportInput['filter'] = { ...rest, ...(since ? { since: since.toISOString() } : {}), ...(until ? { until: until.toISOString() } : {}) };
      return deps.jobs.submit({ access, type: 'audit_export', input: { format: input.format, filter }, total: 0 });
    },

    /** For the worker: runs (or re-runs after a crash) the export job. */
    run: (jobId: string) => runExport(runDeps, jobId),

    /** For the worker, after the last attempt failed: no half-written file is left behind. */
    async discardPartial(jobId: string): Promise<void> {
      const job = await deps.jobs.load(jobId);
      const format = (job?.input as { format?: string } | undefined)?.format;
      if (!job || !format) return;
      await unlink(`${exportPath(deps.config.dir, job.tenantId, jobId, format)}.partial`).catch(ignoreMissing);
    },

    async get({ tenantId }: Access, id: string): Promise<AuditExportRow> {
      const row = await findTenantExport(db, tenantId, id);
      if (!row) throw notFound('audit export');
      return row;
    },

    /** An open stream of the export's gzip file; 404 for another tenant's id, 410 once expired. */
    async download({ tenantId }: Access, id: string, now = new Date()): Promise<{ row: AuditExportRow; stream: ReadStream }> {
      const row = await findTenantExport(db, tenantId, id);
      if (!row) throw notFound('audit export');
      if (!row.filePath || row.expiresAt <= now) throw gone();
      const stream = createReadStream(row.filePath);
      try {
        await once(stream, 'open');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw gone();
        throw err;
      }
      return { row, stream };
    },

    /** Deletes the files of expired exports and clears their path; returns how many. */
    async sweep(now = new Date()): Promise<number> {
      let removed = 0;
      for (;;) {
        const batch = await expiredExportFiles(db, now, 500);
        for (const e of batch) {
          if (e.filePath) await unlink(e.filePath).catch(ignoreMissing);
          await clearExportFile(db, e.id);
          removed += 1;
        }
        if (batch.length < 500) return removed;
      }
    },
  };
}

export type AuditExportService = ReturnType<typeof createAuditExportService>;

/** The export settings from configuration. */
export function auditExportConfig(config: Pick<Config, 'TESSERA_EXPORT_DIR' | 'TESSERA_DATA_DIR' | 'TESSERA_EXPORT_TTL_HOURS' | 'issuer'>): AuditExportConfig {
  return {
    dir: resolve(config.TESSERA_EXPORT_DIR ?? join(config.TESSERA_DATA_DIR, 'exports')),
    ttlMs: Math.round(config.TESSERA_EXPORT_TTL_HOURS * 3_600_000),
    issuer: config.issuer,
  };
}
