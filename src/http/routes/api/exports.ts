import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import type { AuditExportRow } from '../../../queries/exports.ts';
import { route, STREAMED, type RouteDef } from '../../api/route.ts';
import { auditFilterFields, toAuditFilter } from './auditFilter.ts';
import { jobSchema } from './jobs.ts';
import { uuid } from './schemas.ts';

const requestBody = z.strictObject({
  format: z.enum(['ndjson', 'csv']),
  // The same allow-list as GET /audit-events; an unknown filter is a 400.
  filter: z.strictObject(auditFilterFields).optional(),
});

const exportView = z.object({
  id: z.string(),
  job_id: z.string(),
  format: z.enum(['ndjson', 'csv']),
  rows: z.number(),
  sha256: z.string(),
  bytes: z.number(),
  created_at: z.string(),
  expires_at: z.string(),
  expired: z.boolean(),
  download_url: z.string().nullable(),
});

const view = (e: AuditExportRow, issuer: string, now = new Date()): z.infer<typeof exportView> => {
  const expired = !e.filePath || e.expiresAt <= now;
  return {
    id: e.id,
    job_id: e.jobId,
    format: e.format,
    rows: e.rowCount ?? 0,
    sha256: e.sha256 ?? '',
    bytes: e.bytes ?? 0,
    created_at: e.createdAt.toISOString(),
    expires_at: e.expiresAt.toISOString(),
    expired,
    download_url: expired ? null : `${issuer}/api/v1/audit-exports/${e.id}/download`,
  };
};

/** Audit exports (SPEC §9): start one as a job, read its record, download its gzip file. */
export function exportRoutes(deps: { services: Services }): RouteDef[] {
  const { auditExports } = deps.services;
  return [
    route({
      method: 'post',
      path: '/audit-exports',
      tag: 'audit',
      summary: 'Export the audit events matching a filter as gzip NDJSON or CSV; answers 202 with the job',
      capabilities: ['audit:export'],
      body: requestBody,
      status: 202,
      response: jobSchema,
      handler: ({ access, body }) => auditExports.request(access, { format: body.format, filter: toAuditFilter(body.filter ?? {}) }),
    }),
    route({
      method: 'get',
      path: '/audit-exports/:id',
      tag: 'audit',
      summary: 'A finished export: row count, SHA-256 of the file, size and expiry',
      capabilities: ['audit:export'],
      params: z.strictObject({ id: uuid }),
      response: exportView,
      handler: async ({ access, params }) => view(await auditExports.get(access, params.id), auditExports.issuer),
    }),
    route({
      method: 'get',
      path: '/audit-exports/:id/download',
      tag: 'audit',
      summary: 'Download the gzip file of an export; X-Content-SHA256 is the SHA-256 of the bytes sent (410 once expired)',
      capabilities: ['audit:export'],
      params: z.strictObject({ id: uuid }),
      produces: 'application/gzip',
      response: z.string().describe('the gzip-compressed NDJSON or CSV file'),
      handler: async ({ access, params, ctx }) => {
        const { row, stream } = await auditExports.download(access, params.id);
        ctx.status = 200;
        ctx.type = 'application/gzip';
        ctx.set('Content-Disposition', `attachment; filename="audit-export-${row.id}.${row.format}.gz"`);
        ctx.set('X-Content-SHA256', row.sha256 ?? '');
        if (row.bytes !== null) ctx.length = row.bytes;
        ctx.body = stream;
        return STREAMED;
      },
    }),
  ];
}
