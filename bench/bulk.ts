/**
 * Bulk role change benchmark (SPEC §9; targets: 100,000 users end to end in
 * <= 20 s, worker peak RSS < 400 MB).
 *
 * Tessera's HTTP side runs in this process; the worker runs as its own OS
 * process (`node --import tsx src/main.ts worker`), as in production, so its
 * memory is measured alone: VmRSS sampled from /proc every poll, and VmHWM
 * (the kernel's peak RSS) at the end.
 *
 *   tessera  POST /api/v1/bulk/role-assignments with 100,000 ids, timed until
 *            the jobs row says completed (validation, 404 check, job row,
 *            queue, 50 batches of rows + child events + checkpoint, parent)
 *   floor    one `INSERT INTO user_roles ... SELECT ... ON CONFLICT DO NOTHING`
 *            of the same 100,000 rows for a fresh role: no audit, no batching
 *
 * Afterwards: the audit events of the job are counted (expect 100,001), the
 * chain is verified, and a sampled user's effective roles must include the role.
 * Results are printed and written to bench/results/bulk.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../test/support/oidc.ts';
import { createServer, type Server_ } from '../src/app/index.ts';
import { rows } from '../src/db/client.ts';
import { createLogger } from '../src/log/index.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, DATABASE_URL, DB_NAME, deletePrefix, recreateDatabase, REDIS_URL, workerNodeFlags, benchConfig, memoryOf } from './lib/harness.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const USERS = Number(process.env.BENCH_BULK_USERS ?? 100_000);
const TARGET_SECONDS = 20;
const TARGET_RSS_MB = 400;

async function spawnWorker(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...workerNodeFlags(), '--import', 'tsx', 'src/main.ts', 'worker'], {
    env: { ...process.env, DATABASE_URL, REDIS_URL, TESSERA_REDIS_PREFIX: prefix, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  while (!out.includes('Tessera workers are running')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the worker did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

async function main() {
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench-b-${runId}:`;
  const clientId = `bench-bulk-${runId}`;
  const secret = randomBytes(32).toString('base64url');
  const slug = `bench-${runId}`;
  console.log(`setting up (database ${DB_NAME}, redis prefix ${prefix}, ${USERS} users) ...`);
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = benchConfig({ port, prefix, slug, clientId: clientId, secret: secret });
  let server: Server_ | undefined;
  let worker: ChildProcess | undefined;
  try {
    server = await createServer(config, { logger: createLogger(config.LOG_LEVEL), printBootstrap: () => undefined });
    await server.listen(port, '127.0.0.1');
    const { db } = server.core;
    const tenantId = server.bootstrap!.tenant.id;
    const q = <T>(query: ReturnType<typeof sql>) => rows<T>(db, query);

    let t0 = performance.now();
    const ids = (
      await q<{ id: string }>(sql`insert into users (id, tenant_id, email, email_key, display_name)
        select gen_random_uuid(), ${tenantId}, 'u' || i || '@bulk.bench', 'u' || i || '@bulk.bench', 'User ' || i from generate_series(1, ${USERS}) i returning id`)
    ).map((r) => r.id);
    await q(sql`analyze users`);
    console.log(`seeded ${ids.length} users in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

    const token = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${issuer}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token.access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }).then(async (r) => {
        const text = await r.text();
        return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- API bodies
      });
    for (const name of ['Bench bulk', 'Bench floor']) {
      const res = await api('POST', '/roles', { name, capabilities: ['reports:view'] });
      if (res.status !== 201) throw new Error(`role: ${JSON.stringify(res.body)}`);
    }

    worker = await spawnWorker(prefix);
    let peakSampled = memoryOf(worker.pid!).rss;
    const payload = { role: 'bench-bulk', action: 'add', users: ids };
    t0 = performance.now();
    const submitted = await api('POST', '/bulk/role-assignments', payload);
    const tSubmit = performance.now() - t0;
    if (submitted.status !== 202) throw new Error(`submit: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const jobId = String(submitted.body.id);
    let status = '';
    while (status !== 'completed') {
      const [row] = await q<{ status: string; error: string | null }>(sql`select status, error from jobs where id = ${jobId}`);
      status = row!.status;
      if (status === 'failed') throw new Error(`job failed: ${row!.error}`);
      peakSampled = Math.max(peakSampled, memoryOf(worker.pid!).rss);
      if (performance.now() - t0 > 120_000) throw new Error('job did not finish in 120 s');
      await new Promise((r) => setTimeout(r, 25));
    }
    const seconds = (performance.now() - t0) / 1000;
    const { hwm } = memoryOf(worker.pid!);
    const job = await api('GET', `/jobs/${jobId}`);

    const [{ n: events }] = (await q<{ n: number }>(sql`select count(*)::int as n from audit_events where id = ${jobId} or parent_id = ${jobId}`)) as [{ n: number }];
    const chain = await server.core.audit.verifyChain(db, tenantId);
    const sample = ids[Math.floor(ids.length / 2)]!;
    const roles = await api('GET', `/users/${sample}/roles`);
    const sampleRoleOk = (roles.body.direct as { slug: string }[]).some((r) => r.slug === 'bench-bulk') && (roles.body.capabilities as string[]).includes('reports:view');
    // And a real token for that user carries the role's scope: sign in through the login form.
    const password = `sample password ${runId}`;
    await api('POST', `/users/${sample}/password`, { password });
    const app = await api('POST', '/applications', { name: 'Bench console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const web = await discover(issuer, app.body.id as string, app.body.client_secret as string);
    const email = (await api('GET', `/users/${sample}`)).body.email as string;
    const { tokens } = await signIn(issuer, web, { email, password }, { scope: 'openid reports:view' });
    const sampleScopes = scopesOf(await verifyAccessToken(issuer, tokens.access_token));
    const sampleOk = sampleRoleOk && sampleScopes.has('reports:view');

    const [floorRole] = await q<{ id: string }>(sql`select id from roles where tenant_id = ${tenantId} and slug = 'bench-floor'`);
    t0 = performance.now();
    const floorRows = await q(sql`insert into user_roles (tenant_id, role_id, user_id)
      select ${tenantId}, ${floorRole!.id}, id from users where tenant_id = ${tenantId} and email like '%@bulk.bench' on conflict do nothing returning user_id`);
    const floorSeconds = (performance.now() - t0) / 1000;

    const pass = { seconds: seconds <= TARGET_SECONDS, rss: hwm < TARGET_RSS_MB, events: events === USERS + 1, chain: chain.ok, sample: sampleOk };
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      users: USERS,
      target: { seconds: TARGET_SECONDS, workerPeakRssMb: TARGET_RSS_MB, auditEvents: USERS + 1 },
      tessera: { seconds, submitSeconds: tSubmit / 1000, result: job.body.result, progress: job.body.progress, auditEvents: events, chainOk: chain.ok },
      worker: { peakRssMb: hwm, peakSampledRssMb: peakSampled },
      floor: { seconds: floorSeconds, rows: floorRows.length },
      ratio: seconds / floorSeconds,
      sampleUserHasRole: sampleOk,
      pass,
    };
    console.log(`\nbulk add of ${USERS} users, POST -> completed: ${seconds.toFixed(2)} s (submit ${(tSubmit / 1000).toFixed(2)} s; target <= ${TARGET_SECONDS} s)`);
    console.log(`audit events of the job: ${events} (expect ${USERS + 1}); chain ${chain.ok ? 'verified' : 'BROKEN'}`);
    console.log(`worker peak RSS: ${hwm.toFixed(0)} MB (VmHWM; sampled max ${peakSampled.toFixed(0)} MB; target < ${TARGET_RSS_MB} MB)`);
    console.log(`sampled user ${sample} has the role, and a token from the login form carries reports:view: ${sampleOk}`);
    console.log(`floor (one INSERT ... SELECT ... ON CONFLICT DO NOTHING of ${floorRows.length} rows): ${floorSeconds.toFixed(2)} s; ratio ${(seconds / floorSeconds).toFixed(1)}x`);
    const out = join(HERE, 'results', 'bulk.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwritten ${out}`);
    if (!Object.values(pass).every(Boolean)) process.exitCode = 1;
  } finally {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    await server?.close().catch(() => undefined);
    await deletePrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
