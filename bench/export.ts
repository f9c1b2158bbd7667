/**
 * Audit export benchmark (SPEC §9: "streamed from a Postgres cursor in
 * constant memory"). Targets: 1,000,000 events to gzip NDJSON end to end in
 * at most 15 s, with the worker's peak RSS under 250 MB.
 *
 *   tessera   POST-equivalent (services.auditExports.request) → a worker in a
 *             child process (`src/main.ts worker`) streams the cursor, writes
 *             NDJSON through gzip to a file → job completed; timed from submit
 *             to the completed row. The worker's peak RSS is its VmHWM from
 *             /proc (so it includes start-up), sampled at the end.
 *   floor     `COPY (SELECT … ORDER BY seq) TO STDOUT` through psql, piped
 *             through node's gzip at the same level to nothing: what Postgres
 *             and zlib alone cost. (pg-copy-streams is not in the lockfile and
 *             not in the offline cache, so psql is the COPY client.)
 *
 * The file's SHA-256 and line count are checked against the job result.
 * It uses its own database (tessera_bench_export) so it can run beside the
 * other benches, and a unique Redis prefix deleted at the end.
 * Results are printed and written to bench/results/export.json.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createGunzip, createGzip } from 'node:zlib';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createCore } from '../src/app/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import { systemAccess } from '../src/services/authority.ts';
import { bootstrapTenant } from '../src/services/bootstrap.ts';
import { GZIP_LEVEL } from '../src/services/auditExports/writer.ts';
import { deletePrefix, killChildren, PG_ADMIN_URL, REDIS_URL, workerNodeFlags } from './lib/harness.ts';

const EVENTS = Number(process.env.BENCH_EXPORT_EVENTS ?? 1_000_000);
const TARGET_MS = 15_000;
const TARGET_RSS_MB = 250;
const DB = 'tessera_bench_export';
const url = new URL(PG_ADMIN_URL);
url.pathname = `/${DB}`;
const DATABASE_URL = url.toString();
const here = dirname(fileURLToPath(import.meta.url));

async function recreate() {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
}

const procStatus = (pid: number, field: string) => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

async function main() {
  await recreate();
  const prefix = `bench-export-${randomBytes(4).toString('hex')}:`;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-export-'));
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL, REDIS_URL, TESSERA_REDIS_PREFIX: prefix, TESSERA_EXPORT_DIR: dir, LOG_LEVEL: 'warn' });
  const core = await createCore(config, createLogger('warn'));
  // The worker runs with the flags `npm run worker` uses (a smaller V8 young generation keeps a long
  // export's RSS flat at no measurable cost); BENCH_WORKER_NODE_FLAGS overrides them, and the figures record it.
  const workerFlags = process.env.BENCH_WORKER_NODE_FLAGS !== undefined ? process.env.BENCH_WORKER_NODE_FLAGS.split(' ').filter(Boolean) : workerNodeFlags();
  const worker = spawn(process.execPath, [...workerFlags, '--import', 'tsx', 'src/main.ts', 'worker'], {
    env: { ...process.env, DATABASE_URL, REDIS_URL, TESSERA_REDIS_PREFIX: prefix, TESSERA_EXPORT_DIR: dir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const boot = await bootstrapTenant(core, { tenant: 'bench-export', ownerEmail: 'owner@bench.test', ownerPassword: 'bench-password-123' });
    const tenantId = boot!.tenant.id;
    let t0 = performance.now();
    await core.db.execute(sql`
      insert into audit_events (id, tenant_id, seq, at, actor_type, actor_id, action, target_type, target_id, data, parent_id, request_id, prev_hash, hash)
      select gen_random_uuid(), ${tenantId}, b.base + i, now() - make_interval(secs => ${EVENTS} - i), 'user', 'u-' || (i % 97),
        (array['role.assigned', 'role.unassigned', 'user.updated', 'group.member_added'])[1 + i % 4], 'user', gen_random_uuid()::text,
        jsonb_build_object('role', 'role-' || (i % 13), 'i', i), null, 'req-' || i, md5(i::text) || md5((i + 1)::text), md5(i::text || 'h') || md5(i::text)
      from generate_series(1, ${EVENTS}) i, (select coalesce(max(seq), 0) as base from audit_events where tenant_id = ${tenantId}) b`);
    await core.db.execute(sql`analyze audit_events`);
    console.log(`seeded ${EVENTS.toLocaleString()} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    await new Promise<void>((resolve, reject) => {
      let out = '';
      worker.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Tessera workers are running')) resolve();
      });
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    const rssBefore = procStatus(worker.pid!, 'VmRSS');
    const hwmBefore = procStatus(worker.pid!, 'VmHWM');

    // tessera: submit → completed
    t0 = performance.now();
    const job = await core.services.auditExports.request(systemAccess(tenantId), { format: 'ndjson', filter: {} });
    let maxRss = rssBefore;
    let row;
    for (;;) {
      maxRss = Math.max(maxRss, procStatus(worker.pid!, 'VmRSS'));
      row = await core.services.jobs.load(job.id);
      if (row?.status === 'completed' || row?.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const exportMs = performance.now() - t0;
    const peakMb = procStatus(worker.pid!, 'VmHWM');
    if (row.status !== 'completed') throw new Error(`export failed: ${row.error}`);
    const result = row.result as { rows: number; sha256: string; bytes: number };
    const record = await core.services.auditExports.get(systemAccess(tenantId), job.id);

    // verify: SHA-256 of the file bytes and its line count
    const hash = createHash('sha256');
    let lines = 0;
    await new Promise<void>((resolve, reject) => {
      const file = createReadStream(record.filePath!);
      file.on('data', (c) => hash.update(c));
      const gunzip = file.pipe(createGunzip());
      gunzip.on('data', (c: Buffer) => {
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
      });
      gunzip.on('end', resolve).on('error', reject);
    });
    const sha256 = hash.digest('hex');
    const verified = sha256 === result.sha256 && sha256 === record.sha256 && lines === result.rows && result.rows >= EVENTS;

    // floor: COPY … TO STDOUT | gzip > /dev/null
    t0 = performance.now();
    const copyBytes = await new Promise<number>((resolve, reject) => {
      const psql = spawn('psql', [DATABASE_URL, '-X', '-q', '-c', `COPY (SELECT * FROM audit_events WHERE tenant_id = '${tenantId}' ORDER BY seq) TO STDOUT`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let n = 0;
      psql.stdout.pipe(createGzip({ level: GZIP_LEVEL })).on('data', (c: Buffer) => (n += c.length)).on('end', () => resolve(n)).on('error', reject);
      psql.once('exit', (code) => code !== 0 && reject(new Error(`psql exited with ${code}`)));
    });
    const floorMs = performance.now() - t0;

    const figures = {
      date: new Date().toISOString(),
      node: process.version,
      events: EVENTS,
      gzipLevel: GZIP_LEVEL,
      workerNodeFlags: workerFlags,
      target: { exportMs: TARGET_MS, peakRssMb: TARGET_RSS_MB },
      tessera: { exportMs: Math.round(exportMs), rows: result.rows, bytes: result.bytes, peakRssMb: Math.round(peakMb), sampledMaxRssMb: Math.round(maxRss), idleRssMb: Math.round(rssBefore), startupPeakRssMb: Math.round(hwmBefore), verified },
      floor: { copyGzipMs: Math.round(floorMs), bytes: copyBytes },
      ratio: Number((exportMs / floorMs).toFixed(2)),
      pass: verified && exportMs <= TARGET_MS && peakMb < TARGET_RSS_MB,
    };
    console.log(
      `export   ${figures.tessera.exportMs} ms for ${result.rows.toLocaleString()} rows → ${(result.bytes / 1e6).toFixed(1)} MB gzip (target ≤ ${TARGET_MS} ms); ` +
        `worker peak RSS ${figures.tessera.peakRssMb} MB (idle ${figures.tessera.idleRssMb} MB, start-up peak ${figures.tessera.startupPeakRssMb} MB; target < ${TARGET_RSS_MB} MB); sha256 and row count ${verified ? 'verified' : 'MISMATCH'}`,
    );
    console.log(`floor    COPY TO STDOUT | gzip: ${figures.floor.copyGzipMs} ms (${(copyBytes / 1e6).toFixed(1)} MB)`);
    console.log(`ratio    export / floor = ${figures.ratio}   ${figures.pass ? 'PASS' : 'FAIL'}`);
    mkdirSync(join(here, 'results'), { recursive: true });
    writeFileSync(join(here, 'results', 'export.json'), `${JSON.stringify(figures, null, 2)}\n`);
    if (!figures.pass) process.exitCode = 1;
  } finally {
    if (worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1_000));
    }
    killChildren();
    await deletePrefix(core.redis, prefix);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
