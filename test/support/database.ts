import pg from 'pg';

/** Name of the database the suite owns; recreated on every run so a run starts clean. */
export const TEST_DB = process.env.TESSERA_TEST_DB ?? 'tessera_test';
const ADMIN_URL = process.env.TESSERA_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Drops and creates database `name` on the test server; returns its URL. */
export async function recreateDatabase(name: string): Promise<string> {
  await admin(`drop database if exists ${name} with (force)`);
  await admin(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A database of the test file's own, for tests that change instance-wide state
 * (signing keys) which would otherwise leak into test files running alongside.
 * Tessera migrates it at first start.
 */
export async function createScratchDatabase(suffix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${TEST_DB}_${suffix}`;
  const url = await recreateDatabase(name);
  return { url, drop: () => admin(`drop database if exists ${name} with (force)`) };
}
