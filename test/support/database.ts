import pg from 'pg';
import { TEST_DB } from './globalSetup.ts';

const ADMIN_URL = process.env.TESSERA_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A database of the test file's own, for tests that change instance-wide state
 * (signing keys) which would otherwise leak into test files running alongside.
 * Tessera migrates it at first start.
 */
export async function createScratchDatabase(suffix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${TEST_DB}_${suffix}`;
  const run = async (sql: string) => {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };
  await run(`drop database if exists ${name} with (force)`);
  await run(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}
