import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOn } from '../../src/db/client.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

describe('allOn', () => {
  const timed = (db: Parameters<typeof allOn>[0], log: string[], name: string) => async () => {
    log.push(`${name} start`);
    await db.execute(sql`select pg_sleep(0.05)`);
    log.push(`${name} end`);
    return name;
  };

  it('runs the queries one after another inside a transaction (one connection; pg 9 refuses overlapping queries)', async () => {
    const log: string[] = [];
    const result = await t.server.core.db.transaction((tx) => allOn(tx, [timed(tx, log, 'a'), timed(tx, log, 'b')] as const));
    expect(result).toEqual(['a', 'b']);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end']);
  });

  it('runs them at once on the pool', async () => {
    const log: string[] = [];
    const db = t.server.core.db;
    expect(await allOn(db, [timed(db, log, 'a'), timed(db, log, 'b')] as const)).toEqual(['a', 'b']);
    expect(log.slice(0, 2)).toEqual(['a start', 'b start']);
  });
});
