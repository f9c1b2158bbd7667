import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import { badRequest } from '../../../errors/index.ts';
import type { ChainedAuditRow } from '../../../queries/audit.ts';
import { CURSORS, decodeCursor, page, pageQuery } from '../../api/pagination.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { auditFilterFields, toAuditFilter } from './auditFilter.ts';
import { pageOf } from './schemas.ts';

// strictObject: a filter not on this allow-list is a 400, never silently ignored.
const listQuery = z.strictObject({ ...pageQuery, ...auditFilterFields });

const eventView = z.object({
  id: z.string(),
  tenant: z.string(),
  at: z.string(),
  actor: z.object({ type: z.enum(['user', 'client', 'system']), id: z.string().nullable() }),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string() }).nullable(),
  data: z.record(z.string(), z.unknown()),
  parent_id: z.string().nullable(),
  request_id: z.string().nullable(),
  seq: z.number(),
  hash: z.string(),
  prev_hash: z.string(),
});

function view(e: ChainedAuditRow): z.infer<typeof eventView> {
  return {
    id: e.id,
    tenant: e.tenantId,
    at: e.at.toISOString(),
    actor: { type: e.actorType, id: e.actorId },
    action: e.action,
    target: e.targetType && e.targetId ? { type: e.targetType, id: e.targetId } : null,
    data: e.data as Record<string, unknown>,
    parent_id: e.parentId,
    request_id: e.requestId,
    seq: e.seq,
    hash: e.hash,
    prev_hash: e.prevHash,
  };
}

/** The cursor's key is the last seq seen; anything else was not issued by this API. */
function beforeSeq(cursor: string | undefined): number | undefined {
  const c = decodeCursor(cursor, CURSORS.sequence);
  if (!c) return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(c.k)) throw badRequest('invalid_cursor', 'the cursor is not one this API issued');
  return Number(c.k);
}

/** The tenant's audit log, newest first (SPEC §10). */
export function auditRoutes(deps: { services: Services }): RouteDef[] {
  const { auditEvents } = deps.services;
  return [
    route({
      method: 'get',
      path: '/audit-events',
      tag: 'audit',
      summary: 'List audit events newest first, with allow-listed filters',
      capabilities: ['audit:read'],
      query: listQuery,
      response: pageOf(eventView),
      handler: async ({ access, query }) => {
        const filter = toAuditFilter(query);
        const { rows, limit } = await auditEvents.list(access, filter, { limit: query.limit, beforeSeq: beforeSeq(query.cursor) });
        const p = page(rows, limit, (e) => ({ k: String(e.seq), id: e.id }));
        return { items: p.items.map(view), next_cursor: p.next_cursor };
      },
    }),
  ];
}
