import { z } from 'zod';
import { isCalendarDateTime } from '../../../text/index.ts';
import type { AuditFilter } from '../../../services/auditEvents.ts';

const when = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { message: 'must be an ISO 8601 date or date-time with offset' })
  .refine((s) => isCalendarDateTime(s.length === 10 ? `${s}T00:00:00Z` : s), 'must be a date that exists, in years 1000-9999')
  .transform((s) => new Date(s));
const text = z.string().min(1).max(200);

/**
 * The allow-listed audit event filters, shared by the event list and the
 * export so both read a filter the same way. Spread into a strictObject: a
 * filter not on this list is a 400, never silently ignored.
 */
export const auditFilterFields = {
  /** Exact action, or a prefix ending in `.*` such as `role.*`. */
  action: text.optional(),
  actor_type: z.enum(['user', 'client', 'system']).optional(),
  actor_id: text.optional(),
  target_type: text.optional(),
  target_id: text.optional(),
  since: when.optional(),
  until: when.optional(),
};

export type AuditFilterQuery = z.infer<z.ZodObject<typeof auditFilterFields>>;

/** The query-layer filter of an API filter; `role.*` becomes a prefix match. */
export function toAuditFilter(q: AuditFilterQuery): AuditFilter {
  const prefix = q.action?.endsWith('.*');
  return {
    action: prefix ? q.action!.slice(0, -1) : q.action,
    actionPrefix: prefix,
    actorType: q.actor_type,
    actorId: q.actor_id,
    targetType: q.target_type,
    targetId: q.target_id,
    since: q.since,
    until: q.until,
  };
}
