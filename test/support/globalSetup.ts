import { openDatabase } from '../../src/db/client.ts';
import { recreateDatabase, TEST_DB } from './database.ts';

export default async function setup() {
  const url = await recreateDatabase(TEST_DB);
  process.env.TESSERA_TEST_DATABASE_URL = url;
  const dbh = await openDatabase({ databaseUrl: url, dataDir: '.tessera-test' });
  await dbh.migrate();
  await dbh.close();
}
