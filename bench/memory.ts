/**
 * Memory as users run Tessera (issue 14): resident memory (VmRSS) and peak
 * (VmHWM, from /proc) of
 *   - `npm start` on the embedded PGlite database: its first start on an empty
 *     data directory, then a restart on the same one;
 *   - `serve` on PostgreSQL, idle and after 10 s of client-credentials load (wrk);
 *   - `worker` on PostgreSQL, idle.
 * Each process is node running src/main.ts as the npm scripts do, at the default log level.
 *
 *   npm run bench:memory     (goals: serve on Postgres <= 200 MB under load; npm start on PGlite <= 350 MB after start-up)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../test/support/tessera.ts';
import { basic, DATABASE_URL, deletePrefix, killChildren, recreateDatabase, REDIS_URL, memoryOf, startTesseraProcess, stopChild } from './lib/harness.ts';

const GOALS = { serveUnderLoad: 200, startAfterStartup: 350 };

const settle = () => new Promise((r) => setTimeout(r, 5_000));

async function main() {
  delete process.env.NODE_ENV;
  delete process.env.LOG_LEVEL;
  delete process.env.DATABASE_URL;
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench-m-${runId}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-memory-'));
  const redis = new Redis(REDIS_URL);
  const quiet = () => undefined;
  const rows: Array<[string, { rss: number; hwm: number }, string]> = [];
  try {
    // npm start on PGlite: first start (migrations, bootstrap, key generation), then a restart.
    for (const run of ['first start', 'restart']) {
      const port = await freePort();
      const child: ChildProcess = await startTesseraProcess('all', { PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dataDir, REDIS_URL, TESSERA_REDIS_PREFIX: prefix }, { onLine: quiet, timeoutMs: 120_000 });
      await settle();
      rows.push([`npm start on PGlite, ${run}, 5 s after ready`, memoryOf(child.pid!), `RSS <= ${GOALS.startAfterStartup} MB`]);
      await stopChild(child);
    }
    await deletePrefix(redis, prefix);

    // serve and worker on PostgreSQL.
    await recreateDatabase();
    const clientId = `bench-memory-${runId}`;
    const secret = randomBytes(32).toString('base64url');
    const port = await freePort();
    const pgEnv = { PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, DATABASE_URL, REDIS_URL, TESSERA_REDIS_PREFIX: prefix, TESSERA_BOOTSTRAP_TENANT: `bench-${runId}`, TESSERA_BOOTSTRAP_CLIENT_ID: clientId, TESSERA_BOOTSTRAP_CLIENT_SECRET: secret };
    const serve = await startTesseraProcess('serve', pgEnv, { onLine: quiet });
    await settle();
    rows.push(['serve on PostgreSQL, idle', memoryOf(serve.pid!), '']);
    const script = join(dataDir, 'cc.lua');
    writeFileSync(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "${basic(clientId, secret)}"\nwrk.body = "grant_type=client_credentials&scope=users%3Aview%20audit%3Aread"\n`);
    const out = execFileSync('wrk', ['-t1', '-c16', '-d10s', '-s', script, `http://127.0.0.1:${port}/token`], { encoding: 'utf8' });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
    rows.push([`serve on PostgreSQL, after 10 s of client credentials (${rps} req/s)`, memoryOf(serve.pid!), `RSS <= ${GOALS.serveUnderLoad} MB`]);
    const worker = await startTesseraProcess('worker', { ...pgEnv, PORT: String(await freePort()) }, { onLine: quiet });
    await settle();
    rows.push(['worker on PostgreSQL, idle', memoryOf(worker.pid!), '']);
    await Promise.all([stopChild(serve), stopChild(worker)]);

    console.log(`\n${'process'.padEnd(72)}${'RSS MB'.padStart(8)}${'peak MB'.padStart(9)}  goal`);
    for (const [label, m, goal] of rows) console.log(`${label.padEnd(72)}${m.rss.toFixed(0).padStart(8)}${m.hwm.toFixed(0).padStart(9)}  ${goal}`);
  } finally {
    killChildren();
    rmSync(dataDir, { recursive: true, force: true });
    await deletePrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
  }
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(err);
    killChildren();
    process.exit(1);
  });
