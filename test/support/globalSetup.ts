import pg from 'pg';
import { openDatabase } from '../../src/db/client.ts';

/** Name of the database the suite owns; recreated on every run so a run starts clean. */
export const TEST_DB = process.env.TESSERA_TEST_DB ?? 'tessera_test';
const ADMIN_URL = process.env.TESSERA_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export default async function setup() {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${TEST_DB} with (force)`);
  await admin.query(`create database ${TEST_DB}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${TEST_DB}`;
  process.env.TESSERA_TEST_DATABASE_URL = url.toString();
  const dbh = await openDatabase({ databaseUrl: url.toString(), dataDir: '.tessera-test' });
  await dbh.migrate();
  await dbh.close();
}
