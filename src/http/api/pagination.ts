import { z } from 'zod';
import { badRequest } from '../../errors/index.ts';
import { isCalendarDateTime, textProblem } from '../../text/index.ts';

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

/** What each part of a list's cursor must look like; anything else is 400, never a query. */
export interface CursorShape {
  k: RegExp | 'text';
  id: RegExp;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The cursor shapes of the lists: a sort key and a row id. */
export const CURSORS = {
  /** Creation time as Postgres prints it (µs), then a UUID. */
  created: { k: /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$/, id: UUID },
  /** A name or email (clean text), then a UUID. */
  named: { k: 'text', id: UUID },
  /** Creation time, then an application id. */
  application: { k: /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$/, id: /^[A-Za-z0-9._~-]{1,128}$/ },
  /** An audit sequence number, then a UUID. */
  sequence: { k: /^[1-9][0-9]{0,15}$/, id: UUID },
} as const satisfies Record<string, CursorShape>;

/** Decodes a cursor this API issued; a tampered or foreign one is 400 invalid_cursor. */
export function decodeCursor(raw: string | undefined, shape: CursorShape): Cursor | undefined {
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
    const [k, id] = parsed as [string, string];
    const kOk = shape.k === 'text' ? k.length <= 320 && !textProblem(k) : shape.k.test(k);
    const date = shape.k === 'text' || !/^\d{4}-/.test(k) || isCalendarDateTime(k);
    if (kOk && date && shape.id.test(id)) return { k, id };
  }
  throw badRequest('invalid_cursor', 'the cursor is not one this API issued');
}

/** Builds `{items, next_cursor}` from a page fetched with `limit + 1` rows. */
export function page<T>(rows: T[], limit: number, key: (row: T) => Cursor): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? encodeCursor(key(items[items.length - 1]!)) : null };
}
