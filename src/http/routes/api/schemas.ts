import { z } from 'zod';
import { isCalendarDateTime } from '../../../text/index.ts';

/** Shared request pieces of the admin API. */
export const uuid = z.uuid({ message: 'must be a UUID' });
export const slug = z.string().min(1).max(64);
export const idList = (max = 1_000) => z.array(uuid).max(max);
export const isoDate = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with offset' })
  .refine(isCalendarDateTime, 'must be a date-time that exists, in years 1000-9999')
  .transform((s) => new Date(s));

export const assigneeSet = z.strictObject({
  users: idList().optional(),
  groups: idList().optional(),
});

export const assignmentResult = z.object({
  changed: z.object({ users: z.array(z.string()), groups: z.array(z.string()), clients: z.array(z.string()) }),
  unchanged: z.object({ users: z.array(z.string()), groups: z.array(z.string()), clients: z.array(z.string()) }),
});

export const roleView = z.object({
  slug: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  type: z.enum(['system', 'custom']),
  capabilities: z.array(z.string()),
  capability_count: z.number(),
  assigned: z.object({ users: z.number(), groups: z.number() }),
  created_at: z.string(),
  updated_at: z.string(),
});

/** `{items, next_cursor}` around an item schema. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });
