import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { lockDataDir } from './dataDirLock.ts';
import * as schema from './schema/index.ts';

export { schema };

type Schema = typeof schema;
/** The drizzle database, whichever driver (pg or PGlite) is underneath. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
/** A transaction handle; every query function accepts one in place of the database. */
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything queries can run on. */
export type Executor = Database | Tx;

/**
 * Runs independent queries at once on a pool, one after another on a
 * transaction: a transaction is one connection, and pg refuses (from pg 9;
 * warns in pg 8) a query issued while another is running on the same client.
 */
export async function allOn<T extends readonly unknown[]>(db: Executor, tasks: { [K in keyof T]: () => Promise<T[K]> }): Promise<T> {
  if (!('rollback' in db)) return Promise.all(tasks.map((task) => task())) as unknown as Promise<T>;
  const results: unknown[] = [];
  for (const task of tasks) results.push(await task());
  return results as unknown as T;
}

/** Runs raw SQL and returns its rows; both drivers answer with `{ rows }`. */
export async function rows<T>(db: Executor, query: SQL): Promise<T[]> {
  const res = (await db.execute(query)) as unknown as { rows: T[] };
  return res.rows;
}

type CommitHook = () => Promise<void>;
const commitHooks = new WeakMap<object, Map<string, CommitHook>>();

/**
 * Runs `hook` once the top-level transaction `tx` has committed (never if it
 * rolls back), before `db.transaction` returns to its caller. Hooks are keyed,
 * so registering the same key twice in one transaction runs it once. A hook
 * must handle its own errors: the change it follows is already committed.
 */
export function afterCommit(tx: Tx, key: string, hook: CommitHook): void {
  const hooks = commitHooks.get(tx);
  if (!hooks) throw new Error('afterCommit needs the top-level transaction of a database opened by openDatabase');
  if (!hooks.has(key)) hooks.set(key, hook);
}

/** Gives `db.transaction` the after-commit hooks of `afterCommit`, whichever driver is underneath. */
function withCommitHooks(db: Database): Database {
  const transaction = db.transaction.bind(db);
  const patched: Database['transaction'] = async (fn, config) => {
    const hooks = new Map<string, CommitHook>();
    const result = await transaction(async (tx) => {
      commitHooks.set(tx, hooks);
      return fn(tx);
    }, config);
    for (const hook of hooks.values()) await hook();
    return result;
  };
  return Object.assign(db, { transaction: patched });
}

export interface DbHandle {
  db: Database;
  driver: 'pg' | 'pglite';
  /** Runs the drizzle-kit migrations under `drizzle/`, serialised across processes. */
  migrate(): Promise<void>;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  /** Connections of the pool (pg only; PGlite is one in-process connection). */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

const MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../../drizzle');
// Arbitrary constant: the advisory lock every process takes before migrating.
const MIGRATION_LOCK = 7_264_390_115;

export interface DbOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
}

/** Opens Postgres when a URL is given, otherwise embedded PGlite under `dataDir` (held by this process alone). */
export async function openDatabase(opts: DbOptions): Promise<DbHandle> {
  if (opts.databaseUrl) return openPg(opts.databaseUrl, opts.poolSize ?? 10);
  return openPglite(opts.dataDir);
}

async function openPg(url: string, max: number): Promise<DbHandle> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = withCommitHooks(drizzle(pool, { schema }) as unknown as Database);
  return {
    db,
    driver: 'pg',
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
        await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
        client.release();
      }
    },
    async ping() {
      await pool.query('select 1');
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await pool.end();
    },
  };
}

/**
 * Creates an empty embedded cluster in a short-lived child process. PGlite's
 * initdb grows its WebAssembly memory to about 865 MB, and WebAssembly memory
 * is never given back: done in Tessera's own process it left a first start at
 * 600 MB resident, against about 400 MB on every later start (bench/memory).
 * If the child can't run, the cluster is created in-process as before.
 */
async function createClusterApart(dir: string): Promise<void> {
  if (existsSync(join(dir, 'PG_VERSION'))) return;
  const pglite = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const code = `const { PGlite } = await import(${JSON.stringify(pglite)}); const db = await PGlite.create(process.argv[1]); await db.close();`;
  await new Promise<void>((done) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, dir], { stdio: 'ignore' });
    child.once('error', () => done());
    child.once('exit', () => done());
  });
}

/**
 * The embedded cluster's settings. PGlite starts Postgres with 128 MB of
 * shared buffers, which it touches as it works and WebAssembly never gives
 * back: on an opened cluster that was 110 MB of the process's resident memory
 * at start and 160 MB after a little work. PGlite is one connection on one
 * process, for development and small deployments, so 16 MB of buffers caches
 * their working set; a larger deployment runs on a Postgres server
 * (DATABASE_URL). Measured in bench/memory.
 */
const PGLITE_SETTINGS = ['shared_buffers=16MB'];

async function openPglite(dataDir: string): Promise<DbHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const dir = join(resolve(dataDir), 'pgdata');
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(resolve(dataDir));
  let client: Awaited<ReturnType<typeof PGlite.create>>;
  try {
    await createClusterApart(dir);
    // pg_trgm backs the users list's substring search (migration 0006).
    const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
    client = await PGlite.create(dir, { extensions: { pg_trgm }, postgresqlconf: PGLITE_SETTINGS });
  } catch (err) {
    lock.release();
    throw err;
  }
  const pdb = drizzle(client, { schema });
  return {
    db: withCommitHooks(pdb as unknown as Database),
    driver: 'pglite',
    async migrate() {
      await migrate(pdb, { migrationsFolder: MIGRATIONS });
    },
    async ping() {
      await client.query('select 1');
    },
    async close() {
      await client.close();
      lock.release();
    },
  };
}
