import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import { BULK_MAX_USERS } from '../../../services/bulkRoles.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { jobSchema } from './jobs.ts';
import { isoDate, slug, uuid } from './schemas.ts';

const body = z
  .strictObject({
    role: slug,
    action: z.enum(['add', 'remove']),
    users: z
      .array(uuid)
      .min(1)
      .max(BULK_MAX_USERS)
      .refine((ids) => new Set(ids).size === ids.length, 'user ids must be unique')
      .optional(),
    filter: z
      .strictObject({ group: uuid.optional(), role: slug.optional(), status: z.enum(['active', 'suspended']).optional() })
      .refine((f) => Object.keys(f).length > 0, 'a filter needs at least one of group, role, status')
      .optional(),
    /** For `add`: the same time-bound assignment as a single add (SPEC §5). */
    expires_at: isoDate.nullable().optional(),
  })
  .refine((b) => (b.users === undefined) !== (b.filter === undefined), 'give exactly one of users and filter');

/** 100,000 quoted UUIDs are about 3.9 MB of JSON. */
const BODY_LIMIT = 5 * 1024 * 1024;

/** Bulk role changes (SPEC §9): validated and queued here, applied by the bulk-role worker. */
export function bulkRoutes(deps: { services: Services }): RouteDef[] {
  const requests = deps.services.bulkRoles;
  return [
    route({
      method: 'post',
      path: '/bulk/role-assignments',
      tag: 'jobs',
      summary: 'Add or remove a role for up to 100,000 users (by ids or a filter) as a job',
      capabilities: ['users:bulk', 'members:change_roles'],
      body,
      bodyLimit: BODY_LIMIT,
      response: jobSchema,
      status: 202,
      handler: async ({ access, body }) => requests.submit(access, body),
    }),
  ];
}
