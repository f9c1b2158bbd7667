import { z } from 'zod';
import { AppError, notFound } from '../errors/index.ts';
import { CURSORS, decodeCursor, encodeCursor } from '../http/api/pagination.ts';
import { auditFilterFields, toAuditFilter } from '../http/routes/api/auditFilter.ts';
import type { Services } from '../services/index.ts';
import { AuditLog, type AuditFilterValues } from '../views/console/audit.tsx';
import { consolePage, type ConsolePage, field, send } from './core.ts';
import { UUID } from './users.tsx';

const PAGE = 50;
const FIELDS = ['action', 'actor_type', 'actor_id', 'target_type', 'target_id', 'since', 'until'] as const;
const filterSchema = z.object(auditFilterFields);

/** The filter fields of a query string: blanks dropped, then the admin API's own allow-list and checks. */
function parseFilter(params: URLSearchParams) {
  const values = Object.fromEntries(FIELDS.map((f) => [f, (params.get(f) ?? '').trim()])) as AuditFilterValues;
  const present = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
  const parsed = filterSchema.safeParse(present);
  if (!parsed.success) throw new AppError(400, 'validation_failed', `the filter is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  return { values, filter: toAuditFilter(parsed.data) };
}

export function auditPages(deps: { services: Services }): ConsolePage[] {
  const { services } = deps;
  return [
    consolePage({
      method: 'GET',
      path: '/audit',
      needs: ['audit:read'],
      async handle(c) {
        const params = new URLSearchParams(c.ctx.querystring);
        const { values, filter } = parseFilter(params);
        const cursor = params.get('cursor') ?? undefined;
        const c0 = decodeCursor(cursor, CURSORS.sequence);
        const { rows } = await services.auditEvents.list(c.access, filter, { limit: PAGE, beforeSeq: c0 ? Number(c0.k) : undefined });
        const items = rows.slice(0, PAGE);
        const last = items[items.length - 1];
        const base = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== ''));
        const url = (cur?: string) => {
          const p = new URLSearchParams(base);
          if (cur) p.set('cursor', cur);
          return `/console/audit${p.size ? `?${p}` : ''}`;
        };
        send(
          c.ctx,
          <AuditLog
            viewer={c.viewer}
            notice={c.notice}
            filter={values}
            events={items.map((e) => ({
              id: e.id,
              at: e.at.toISOString(),
              actor: { type: e.actorType, id: e.actorId },
              action: e.action,
              target: e.targetType && e.targetId ? { type: e.targetType, id: e.targetId } : null,
              data: JSON.stringify(e.data).slice(0, 300),
            }))}
            next={rows.length > PAGE && last ? url(encodeCursor({ k: String(last.seq), id: last.id })) : null}
            first={cursor ? url() : undefined}
            query={base.toString()}
          />,
        );
      },
    }),

    consolePage({
      method: 'POST',
      path: '/audit/exports',
      needs: ['audit:export'],
      async handle(c) {
        const { filter } = parseFilter(new URLSearchParams(field(c.form.one, 'query')));
        const format = field(c.form.one, 'format') === 'csv' ? 'csv' : 'ndjson';
        const job = await services.auditExports.request(c.access, { format, filter });
        await c.redirect(`/console/jobs/${job.id}`, { kind: 'ok', text: 'Export started.' });
      },
    }),

    consolePage({
      method: 'GET',
      path: '/audit/exports/:id/download',
      needs: ['audit:export'],
      async handle(c) {
        const id = c.ctx.params.id ?? '';
        if (!UUID.test(id)) throw notFound('audit export');
        const { row, stream } = await services.auditExports.download(c.access, id);
        c.ctx.status = 200;
        c.ctx.type = 'application/gzip';
        c.ctx.set('Content-Disposition', `attachment; filename="audit-export-${row.id}.${row.format}.gz"`);
        c.ctx.set('X-Content-SHA256', row.sha256 ?? '');
        if (row.bytes !== null) c.ctx.length = row.bytes;
        c.ctx.body = stream;
      },
    }),
  ];
}
