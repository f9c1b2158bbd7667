/**
 * Admin write throughput in one tenant (issue 14): user creation, role
 * assignment and group membership changes through the admin API at 1, 16 and
 * 64 requests in flight, with p50/p99. Every change commits with its audit
 * event in the same transaction; the tenant's hash chain is verified at the end.
 *
 *   npm run bench:admin     (target at 16 in flight: >= 500 writes/s per tenant, p99 <= 100 ms)
 *
 * Users are created without a password (an Argon2 hash would measure the
 * hasher, not the write path). Tessera runs as `npm run serve` runs it, in its
 * own process at the default log level; this process only sends requests, so
 * the load generator doesn't share Tessera's event loop.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { openDatabase } from '../src/db/client.ts';
import { createAuditLog } from '../src/services/audit.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, DATABASE_URL, DB_NAME, killChildren, percentile, recreateDatabase, startTesseraProcess, stopChild, tesseraProcessEnv } from './lib/harness.ts';

const OPS = Number(process.env.BENCH_ADMIN_OPS ?? 2_000);
const LEVELS = (process.env.BENCH_ADMIN_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const TARGET = { rps: 500, p99: 100, at: 16 };

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function call(agent: Agent, port: number, token: string, method: string, path: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: '127.0.0.1', port, method, path: `/api/v1${path}`, agent, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Runs `ops` operations with `inFlight` workers pulling from one counter. */
async function measure(inFlight: number, ops: number, op: (i: number, agent: Agent) => Promise<number>): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const times: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < ops; i = next++) {
        const t0 = performance.now();
        const status = await op(i, agent);
        times.push(performance.now() - t0);
        if (status >= 300) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  times.sort((a, b) => a - b);
  return { rps: ops / seconds, p50: percentile(times, 50), p99: percentile(times, 99), errors };
}

async function main() {
  const runId = randomBytes(4).toString('hex');
  const clientId = `bench-admin-${runId}`;
  const secret = randomBytes(32).toString('base64url');
  const slug = `bench-${runId}`;
  await recreateDatabase();
  const port = await freePort();
  let server: ChildProcess | undefined;
  try {
    server = await startTesseraProcess(
      'serve',
      tesseraProcessEnv({ port, prefix: `bench-a-${runId}:`, slug, clientId, secret }),
      // BENCH_TESSERA_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") to profile the server.
      { onLine: () => undefined, nodeArgs: (process.env.BENCH_TESSERA_NODE_ARGS ?? '').split(' ').filter(Boolean) },
    );
    const tokenRes = await fetch(`http://127.0.0.1:${port}/token`, { method: 'POST', headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const setup = new Agent({ keepAlive: true });
    const post = async (path: string, body: unknown) => JSON.parse((await call(setup, port, token, 'POST', path, body)).body) as { id: string; slug: string };
    await post('/roles', { name: 'Bench reader', capabilities: ['reports:view'] });
    const groups = await Promise.all(Array.from({ length: 8 }, (_, i) => post('/groups', { name: `Bench group ${i}` })));
    console.log(`database ${DB_NAME}; ${OPS} operations per kind and level; Tessera as \`serve\` in its own process (log level ${process.env.BENCH_TESSERA_LOG_LEVEL ?? 'default'})\n`);
    console.log(`${'operation'.padEnd(28)}${'in flight'.padStart(10)}${'writes/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}`);
    const rows: Array<{ kind: string; inFlight: number } & Result> = [];
    for (const inFlight of LEVELS) {
      const ids: string[] = [];
      const created = await measure(inFlight, OPS, async (i, agent) => {
        const res = await call(agent, port, token, 'POST', '/users', { email: `u${inFlight}-${i}@admin.bench` });
        if (res.status === 201) ids.push((JSON.parse(res.body) as { id: string }).id);
        return res.status;
      });
      const assigned = await measure(inFlight, ids.length, async (i, agent) => (await call(agent, port, token, 'PUT', `/users/${ids[i]}/roles/bench-reader`, {})).status);
      const joined = await measure(inFlight, ids.length, async (i, agent) => (await call(agent, port, token, 'POST', `/groups/${groups[i % groups.length]!.id}/members`, { users: [ids[i]] })).status);
      for (const [kind, r] of [
        ['create user', created],
        ['assign a role to a user', assigned],
        ['add a user to a group', joined],
      ] as const) {
        rows.push({ kind, inFlight, ...r });
        console.log(`${kind.padEnd(28)}${String(inFlight).padStart(10)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(9)}${String(r.errors).padStart(8)}`);
      }
    }
    const dbh = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '' });
    // The token's `tid` claim names the tenant.
    const tenantId = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { tid: string }).tid;
    const verified = await createAuditLog({ db: dbh.db }).verifyChain(dbh.db, tenantId);
    await dbh.close();
    console.log(`\naudit chain of the tenant: ${verified.ok ? 'verifies' : 'BROKEN'} (${JSON.stringify(verified).slice(0, 200)})`);
    const atTarget = rows.filter((r) => r.inFlight === TARGET.at);
    const pass = atTarget.length > 0 && atTarget.every((r) => r.rps >= TARGET.rps && r.p99 <= TARGET.p99 && r.errors === 0);
    console.log(`target at ${TARGET.at} in flight: >= ${TARGET.rps} writes/s with p99 <= ${TARGET.p99} ms for every kind: ${pass ? 'met' : atTarget.length ? 'not met' : 'not measured (16 is not among BENCH_ADMIN_CONCURRENCY)'}`);
    setup.destroy();
  } finally {
    if (server) await stopChild(server);
    killChildren();
  }
}

await main();
process.exit(0);
