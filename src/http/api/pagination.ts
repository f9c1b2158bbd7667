import { z } from 'zod';
import { badRequest } from '../../errors/index.ts';

/** `?limit=&cursor=` for every list. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
};

/** A position in a list ordered by (sort key, id). */
export interface Cursor {
  k: string;
  id: string;
}

export const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify([c.k, c.id])).toString('base64url');

export function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') return { k: parsed[0], id: parsed[1] };
  } catch {
    // fall through
  }
  throw badRequest('invalid_cursor', 'the cursor is not one this API issued');
}

/** Builds `{items, next_cursor}` from a page fetched with `limit + 1` rows. */
export function page<T>(rows: T[], limit: number, key: (row: T) => Cursor): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(key(items[items.length - 1]!)) : null };
}
