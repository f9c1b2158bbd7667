/**
 * Soak test (issue "production readiness", item 8): a bounded run of mixed load
 * against the production topology on one machine, watching for errors and for
 * memory that keeps growing.
 *
 * Topology: two `serve` processes on different ports and one `worker` process
 * (`src/main.ts` started as `npm run serve` / `npm run worker` start it, but
 * with node as the direct child so its /proc entry is the process measured),
 * one Postgres database (tessera_soak, recreated), one Redis prefix. Both serve
 * processes announce the same issuer, as behind a load balancer; the load is
 * spread over them round-robin.
 *
 * Load, all at once, in closed loops (8 requests in flight by default):
 *   cc        client-credentials token requests (the admin client, Owner)
 *   login     authorization code + PKCE through the login form (bench/bulk.ts's
 *             signIn), pool of seeded users; pages on one serve process, the
 *             code redeemed at the other
 *   refresh   refresh-token grants on chains the logins started; a chain is
 *             retired after a while and its token revoked (RFC 7009, `revoke`)
 *   admin:*   admin API changes with an admin token: assign/unassign a custom
 *             role, group membership add/remove, create/delete a custom role
 *             (with a starter assignment), and a few reads
 *   verify    every access token issued above, checked as a resource server
 *             would: jose against /jwks (cached remote key set), issuer,
 *             audience, typ at+jwt, and the expected sub, tid and a scope
 *   bulk:*    exactly one bulk job (a role to SOAK_BULK_USERS seeded users),
 *             submitted at SOAK_BULK_AT of the measured time and followed to
 *             completion, then its assignment count checked
 *
 * Memory: VmRSS of each child from /proc/<pid>/status every few seconds; drift =
 * (median of the last 60 s - median of the first 60 s after warm-up) / first.
 *
 * Fails (exit 1) on any error (unexpected HTTP status, failed verification,
 * exception, a child exiting or not shutting down cleanly) or any drift >= 10%.
 * Results are printed and written to bench/results/soak-<date>.json.
 *
 * Env: SOAK_SECONDS (300) measured seconds, SOAK_WARMUP_SECONDS (120),
 * SOAK_BULK_USERS (20000), SOAK_BULK_AT (0.25), SOAK_LOGIN_USERS (40),
 * SOAK_ADMIN_PAUSE_MS (100) pause between admin calls, SOAK_RSS_INTERVAL_MS (2000),
 * BENCH_LOG_LEVEL (warn). For investigation: SOAK_NODE_ARGS, SOAK_SERVE_NODE_ARGS,
 * SOAK_WORKER_NODE_ARGS extra node flags (SOAK_NODE_ARGS defaults to --trace-gc;
 * e.g. --heapsnapshot-signal=SIGUSR2), SOAK_CHILD_LOG_DIR to write the children's output to files.
 * With --trace-gc the report adds the live JS heap after full GCs in the first
 * and last minutes (a diagnostic that tells a leak from V8 heap sizing; it does
 * not change the pass/fail rule).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidcClient from 'openid-client';
import pg from 'pg';
import { SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, databaseUrlFor, deletePrefix, httpRequest, percentile, recreateDatabase, REDIS_URL, startTesseraProcess, stopChild, workerNodeFlags } from './lib/harness.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const num = (name: string, fallback: number) => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return n;
};

const SOAK_SECONDS = num('SOAK_SECONDS', 300);
const WARMUP_SECONDS = num('SOAK_WARMUP_SECONDS', 120);
const BULK_USERS = num('SOAK_BULK_USERS', 20_000);
const BULK_AT = num('SOAK_BULK_AT', 0.25);
const LOGIN_USERS = num('SOAK_LOGIN_USERS', 40);
const ADMIN_PAUSE_MS = num('SOAK_ADMIN_PAUSE_MS', 100);
const RSS_INTERVAL_MS = num('SOAK_RSS_INTERVAL_MS', 2_000);
const words = (v: string | undefined) => (v ?? '').split(/\s+/).filter(Boolean);
/** Extra node flags for investigation (e.g. --heapsnapshot-signal=SIGUSR2, --trace-gc), for both kinds of process or one. */
const NODE_ARGS = { serve: [...words(process.env.SOAK_NODE_ARGS ?? '--trace-gc'), ...words(process.env.SOAK_SERVE_NODE_ARGS)], worker: [...words(process.env.SOAK_NODE_ARGS ?? '--trace-gc'), ...words(process.env.SOAK_WORKER_NODE_ARGS)] };
/** When set, every output line of the children goes to <dir>/<name>.log; only their warnings and errors are echoed. */
const CHILD_LOG_DIR = process.env.SOAK_CHILD_LOG_DIR;
/** Closed-loop workers per kind of load: 8 requests in flight at most (the job follower is idle most of the time). */
const LOOPS = { cc: 2, refresh: 2, login: 2, admin: 1, job: 1 } as const;
/**
 * Each end of the drift comparison is the median of a full minute: a serve
 * process's RSS swings by ±50 MB within a minute (V8 resizing its heap, 19 MiB
 * Argon2 buffers per sign-in) while its live heap after full GCs stays flat
 * (--trace-gc). Thirty-second windows right after a 30 s warm-up measured that
 * swing and the ramp-up, not growth: the same build passed and failed. The
 * warm-up is two minutes because serve RSS climbs for the first one to three
 * minutes under this load while V8 grows its young generation and old-space
 * limit to the working size (per-minute medians, 60 s warm-up: 301 325 337 343
 * 333 MB; live heap after full GCs flat at 38-40 MB).
 */
const DRIFT_WINDOW_S = 60;
const DRIFT_LIMIT = 0.1;
const DB = 'tessera_soak';
const DATABASE_URL = databaseUrlFor(DB);
/** Refresh grants per chain before it is retired (revoked) for a fresher one from a login. */
const CHAIN_USES = 50;
/** Chains waiting for a refresh loop; older ones are revoked. */
const CHAIN_QUEUE = 8;
const REQUEST_TIMEOUT_MS = 30_000;
const JOB_POLL_MS = 500;

const VIEWER = SYSTEM_ROLES.find((r) => r.slug === 'viewer')!.capabilities;
/** Viewer (always held), plus what the custom role and the group confer while the admin loop has them assigned. */
const EXTRA_CAP = 'reports:configure';
const GROUP_CAP = 'branding:edit';
const LOGIN_SCOPE = ['openid', 'offline_access', ...VIEWER, EXTRA_CAP, GROUP_CAP].join(' ');

// ---------------------------------------------------------------- statistics

type Phase = 'setup' | 'warmup' | 'measured' | 'drain';
let phase: Phase = 'setup';

interface OpStats {
  /** Completed in the measured phase. */
  count: number;
  errors: number;
  latencies: number[];
  /** Every phase: warm-up and drain included. */
  total: number;
  totalErrors: number;
  firstErrors: string[];
}

const stats = new Map<string, OpStats>();
const opStats = (op: string) => {
  let s = stats.get(op);
  if (!s) stats.set(op, (s = { count: 0, errors: 0, latencies: [], total: 0, totalErrors: 0, firstErrors: [] }));
  return s;
};
/** Counts per op in the current progress interval. */
const interval = new Map<string, { n: number; e: number }>();

function record(op: string, ms: number, error?: string) {
  const s = opStats(op);
  s.total++;
  const iv = interval.get(op) ?? { n: 0, e: 0 };
  iv.n++;
  if (error) {
    s.totalErrors++;
    iv.e++;
    if (s.firstErrors.length < 5) s.firstErrors.push(`[${phase}] ${error.slice(0, 300)}`);
    if (s.totalErrors <= 3) console.log(`  ERROR ${op} [${phase}]: ${error.slice(0, 300)}`);
  }
  interval.set(op, iv);
  if (phase === 'measured') {
    s.count++;
    if (error) s.errors++;
    else s.latencies.push(ms);
  }
}

/** Runs `fn` as one timed operation; an exception is an error of `op`. Returns fn's value, or undefined after an error. */
async function timed<T>(op: string, fn: () => Promise<T>): Promise<T | undefined> {
  const t0 = performance.now();
  try {
    const value = await fn();
    record(op, performance.now() - t0);
    return value;
  } catch (err) {
    record(op, performance.now() - t0, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

// ---------------------------------------------------------------- HTTP

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
let ports: number[] = [];
let rr = 0;
const nextPort = () => ports[rr++ % ports.length]!;

interface Reply {
  status: number;
  text: string;
}

const http = (port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> =>
  httpRequest(agent, port, method, path, headers, body, REQUEST_TIMEOUT_MS);

/** Throws unless the reply has the expected status; returns the parsed JSON body. */
function expect(reply: Reply, status: number, what: string): Record<string, unknown> {
  if (reply.status !== status) throw new Error(`${what}: ${reply.status} (expected ${status}) ${reply.text.slice(0, 200)}`);
  return reply.text ? (JSON.parse(reply.text) as Record<string, unknown>) : {};
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

// ---------------------------------------------------------------- children and memory

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** [seconds since the measured phase began (negative in warm-up), VmRSS MB] */
  rss: [number, number][];
  warnLines: number;
  errorLines: number;
  firstLogLines: string[];
  /** With --trace-gc only: [seconds, live MB after a full (mark-compact) GC, committed heap MB]. */
  gc: [number, number, number][];
  unexpectedExit?: string;
  shutdown?: { code: number | null; signal: string | null; killed: boolean; ms: number };
}

function vmRssMb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** performance.now() when the measured phase begins (set once the load starts); the time base of every sample. */
let measuredStart = Number.POSITIVE_INFINITY;
const MARK_COMPACT = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/;

/**
 * Handles one line of a child's output: counts pino warnings and errors, hides
 * the bootstrap credentials, and (with --trace-gc) keeps the live heap after
 * each full GC instead of echoing GC lines.
 */
function childLine(proc: () => Proc | undefined, name: string) {
  return (line: string) => {
    if (/password|secret/i.test(line) && !line.startsWith('{')) return; // bootstrap banner
    if (CHILD_LOG_DIR) appendFileSync(join(CHILD_LOG_DIR, `${name}.log`), `${line}\n`);
    if (/^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: /.test(line)) {
      const m = MARK_COMPACT.exec(line);
      if (m) proc()?.gc.push([(performance.now() - measuredStart) / 1000, Number(m[1]), Number(m[2])]);
      return;
    }
    let level = 0;
    if (line.startsWith('{')) {
      try {
        level = Number((JSON.parse(line) as { level?: number }).level ?? 0);
      } catch {
        // not pino
      }
    }
    const p = proc();
    if (p && level >= 40) {
      if (level >= 50) p.errorLines++;
      else p.warnLines++;
      if (p.firstLogLines.length < 5) p.firstLogLines.push(line.slice(0, 400));
    }
    if (!p || level >= 40 || (level === 0 && !CHILD_LOG_DIR)) {
      if (!p || p.warnLines + p.errorLines <= 20 || level === 0) process.stdout.write(`  [${name}] ${line.slice(0, 400)}\n`);
    }
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------- main

async function main() {
  const runId = randomBytes(4).toString('hex');
  const prefix = `soak-${runId}:`;
  const slug = `soak-${runId}`;
  const adminId = `soak-admin-${runId}`;
  const adminSecret = randomBytes(32).toString('base64url');
  const dataDir = join(tmpdir(), `tessera-soak-${runId}`);
  mkdirSync(dataDir, { recursive: true });
  if (CHILD_LOG_DIR) mkdirSync(CHILD_LOG_DIR, { recursive: true });
  console.log(
    `soak: ${SOAK_SECONDS} s measured after ${WARMUP_SECONDS} s warm-up; database ${DB}, redis prefix ${prefix}; ` +
      `loops ${Object.entries(LOOPS).map(([k, v]) => `${k}=${v}`).join(' ')}; bulk of ${BULK_USERS} users at ${Math.round(BULK_AT * 100)}%`,
  );

  await recreateDatabase(DB);
  const redis = new Redis(REDIS_URL);
  const procs: Proc[] = [];
  let stopping = false;
  let aborted: string | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let progress: NodeJS.Timeout | undefined;
  const report: Record<string, unknown> = {};
  let failed = false;
  try {
    // ------------------------------------------------------------ processes
    const portA = await freePort();
    let portB = await freePort();
    while (portB === portA) portB = await freePort();
    ports = [portA, portB];
    const issuer = `http://127.0.0.1:${portA}`;
    const common = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      TESSERA_ISSUER: issuer,
      DATABASE_URL,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: prefix,
      TESSERA_DATA_DIR: dataDir,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      TESSERA_SIGNING_ALG: 'ES256',
      // Only failed sign-ins count, and none should fail; the limits are raised anyway so a 429 can only be a bug.
      TESSERA_LOGIN_MAX_PER_ACCOUNT: '1000000',
      TESSERA_LOGIN_MAX_PER_IP: '1000000',
      TESSERA_BOOTSTRAP_TENANT: '',
      TESSERA_BOOTSTRAP_OWNER_EMAIL: '',
      TESSERA_BOOTSTRAP_OWNER_PASSWORD: '',
      TESSERA_BOOTSTRAP_CLIENT_ID: '',
      TESSERA_BOOTSTRAP_CLIENT_SECRET: '',
    };
    const launch = async (name: string, mode: 'serve' | 'worker', env: Record<string, string>, nodeArgs: string[]) => {
      const holder: { proc?: Proc } = {};
      const child = await startTesseraProcess(mode, { ...common, ...env }, { nodeArgs: [...nodeArgs, ...NODE_ARGS[mode]], onLine: childLine(() => holder.proc, name) });
      const proc: Proc = (holder.proc = { name, child, pid: child.pid!, rss: [], warnLines: 0, errorLines: 0, firstLogLines: [], gc: [] });
      child.once('exit', (code, signal) => {
        if (!stopping) {
          proc.unexpectedExit = `exited with ${code ?? signal}`;
          aborted ??= `${name} ${proc.unexpectedExit}`;
        }
      });
      procs.push(proc);
      console.log(`  ${name} up: pid ${child.pid} (${readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').join(' ').trim()})`);
      return proc;
    };
    // One at a time: the first migrates the database, bootstraps the tenant and creates the signing key and cookie keys.
    await launch('serve-a', 'serve', {
      PORT: String(portA),
      TESSERA_BOOTSTRAP_TENANT: slug,
      TESSERA_BOOTSTRAP_OWNER_EMAIL: `owner@${slug}.test`,
      TESSERA_BOOTSTRAP_OWNER_PASSWORD: `pw-${randomBytes(12).toString('hex')}`,
      TESSERA_BOOTSTRAP_CLIENT_ID: adminId,
      TESSERA_BOOTSTRAP_CLIENT_SECRET: adminSecret,
    }, []);
    await launch('serve-b', 'serve', { PORT: String(portB) }, []);
    await launch('worker', 'worker', {}, workerNodeFlags());

    // ------------------------------------------------------------ tenant data
    const adminAuth = basic(adminId, adminSecret);
    const ccToken = async (port: number) => {
      const json = expect(await http(port, 'POST', '/token', { ...FORM, authorization: adminAuth }, form({ grant_type: 'client_credentials' })), 200, 'client credentials');
      return String(json.access_token);
    };
    let adminToken = await ccToken(portA);
    let adminTokenAt = performance.now();
    const api = async (method: string, path: string, body?: unknown, port = nextPort()) =>
      http(
        port,
        method,
        `/api/v1${path}`,
        { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body !== undefined ? JSON.stringify(body) : undefined,
      );

    const web = expect(await api('POST', '/applications', { name: 'Soak console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] }), 201, 'create web app');
    const webId = String(web.id);
    const webSecret = String(web.client_secret);
    const webAuth = basic(webId, webSecret);
    expect(await api('POST', '/roles', { name: 'Soak extra', slug: 'soak-extra', capabilities: [EXTRA_CAP] }), 201, 'create soak-extra');
    expect(await api('POST', '/roles', { name: 'Soak group role', slug: 'soak-group', capabilities: [GROUP_CAP] }), 201, 'create soak-group');
    expect(await api('POST', '/roles', { name: 'Soak bulk', slug: 'soak-bulk', capabilities: ['reports:view'] }), 201, 'create soak-bulk');
    const group = expect(await api('POST', '/groups', { name: 'Soak group' }), 201, 'create group');
    const groupId = String(group.id);
    expect(await api('PUT', `/groups/${groupId}/roles/soak-group`, {}), 200, 'assign group role');

    // Sign-in users (Argon2id hashes, so made through the API a few at a time), each holding Viewer.
    const t0 = performance.now();
    const users: { id: string; email: string; password: string }[] = [];
    for (let i = 0; i < LOGIN_USERS; i += 4) {
      await Promise.all(
        Array.from({ length: Math.min(4, LOGIN_USERS - i) }, async (_, j) => {
          const u = { email: `login${i + j}@${slug}.test`, password: `soak password ${randomBytes(8).toString('hex')}` };
          const created = expect(await api('POST', '/users', u), 201, 'create user');
          const id = String(created.id);
          expect(await api('PUT', `/users/${id}/roles/viewer`, {}), 200, 'assign viewer');
          users.push({ ...u, id });
        }),
      );
    }
    // The bulk job's users: plain rows, as bench/bulk.ts seeds them.
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    let bulkIds: string[];
    try {
      const tenant = await db.query<{ id: string }>('select id from tenants where slug = $1', [slug]);
      const tenantId = tenant.rows[0]!.id;
      bulkIds = (
        await db.query<{ id: string }>(
          `insert into users (id, tenant_id, email, email_key, display_name)
           select gen_random_uuid(), $1, 'bulk' || i || '@soak.bench', 'bulk' || i || '@soak.bench', 'Bulk user ' || i from generate_series(1, $2::int) i returning id`,
          [tenantId, BULK_USERS],
        )
      ).rows.map((r) => r.id);
      await db.query('analyze users');
    } finally {
      await db.end();
    }
    console.log(`  seeded ${users.length} sign-in users and ${bulkIds.length} bulk users in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // ------------------------------------------------------------ clients of the load
    // openid-client configurations for signIn: pages on one serve process, the code redeemed at the other.
    const discovered = await discover(issuer, webId, webSecret);
    // A plain copy: serverMetadata() carries a method.
    const meta = JSON.parse(JSON.stringify(discovered.serverMetadata())) as oidcClient.ServerMetadata;
    const onPort = (url: string | undefined, port: number) => {
      const u = new URL(url!);
      u.port = String(port);
      return u.toString();
    };
    const loginVia = ports.map((port, i) => {
      const other = ports[(i + 1) % ports.length]!;
      const config = new oidcClient.Configuration(
        { ...meta, authorization_endpoint: onPort(meta.authorization_endpoint, port), token_endpoint: onPort(meta.token_endpoint, other) },
        webId,
        webSecret,
        oidcClient.ClientSecretBasic(webSecret),
      );
      oidcClient.allowInsecureRequests(config);
      return { origin: `http://127.0.0.1:${port}`, config };
    });
    let loginRr = 0;

    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const audience = `${issuer}/api`;
    let tenantIdFromTokens: string | undefined;
    /** Resource-server check of an access token; a failure is an error of `verify`. */
    const verify = (token: unknown, expected: { sub: string; scope: string }) =>
      timed('verify', async () => {
        if (typeof token !== 'string') throw new Error(`no access token (${typeof token})`);
        const { payload } = await jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt', algorithms: ['ES256'] });
        if (payload.sub !== expected.sub) throw new Error(`sub ${payload.sub}, expected ${expected.sub}`);
        const scopes = String(payload.scope ?? '').split(' ');
        if (!scopes.includes(expected.scope)) throw new Error(`scope lacks ${expected.scope}: ${payload.scope}`);
        tenantIdFromTokens ??= String(payload.tid);
        if (payload.tid !== tenantIdFromTokens) throw new Error(`tid ${payload.tid}, expected ${tenantIdFromTokens}`);
      });

    interface Chain {
      token: string;
      userId: string;
      uses: number;
    }
    const chainQueue: Chain[] = [];
    const revoke = (chain: Chain) =>
      timed('revoke', async () =>
        expect(await http(nextPort(), 'POST', '/token/revocation', { ...FORM, authorization: webAuth }, form({ token: chain.token, token_type_hint: 'refresh_token' })), 200, 'revoke'),
      );

    const login = async (user: (typeof users)[number]) => {
      const via = loginVia[loginRr++ % loginVia.length]!;
      const result = await timed('login', async () => {
        const { tokens } = await signIn(via.origin, via.config, user, { scope: LOGIN_SCOPE });
        if (!tokens.refresh_token) throw new Error('no refresh token');
        return tokens;
      });
      if (!result) return undefined;
      await verify(result.access_token, { sub: user.id, scope: 'users:view' });
      return { token: result.refresh_token!, userId: user.id, uses: 0 };
    };
    const randomUser = () => users[Math.floor(Math.random() * users.length)]!;

    // Chains for the refresh loops to start with.
    for (let i = 0; i < LOOPS.refresh; i++) {
      const chain = await login(randomUser());
      if (!chain) throw new Error('setup sign-in failed');
      chainQueue.push(chain);
    }

    // ------------------------------------------------------------ loops
    const ccLoop = async () => {
      while (!stopping) {
        const json = await timed('cc', async () =>
          expect(await http(nextPort(), 'POST', '/token', { ...FORM, authorization: adminAuth }, form({ grant_type: 'client_credentials' })), 200, 'client credentials'),
        );
        if (json) await verify(json.access_token, { sub: adminId, scope: 'members:change_roles' });
      }
    };

    const loginLoop = async () => {
      while (!stopping) {
        const chain = await login(randomUser());
        if (!chain) continue;
        chainQueue.push(chain);
        while (chainQueue.length > CHAIN_QUEUE) await revoke(chainQueue.shift()!);
      }
    };

    const refreshLoop = async () => {
      let chain: Chain | undefined;
      while (!stopping) {
        if (!chain || (chain.uses >= CHAIN_USES && chainQueue.length)) {
          if (chain) await revoke(chain);
          chain = chainQueue.pop();
          if (!chain) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
        }
        const current: Chain = chain;
        const json = await timed('refresh', async () =>
          expect(await http(nextPort(), 'POST', '/token', { ...FORM, authorization: webAuth }, form({ grant_type: 'refresh_token', refresh_token: current.token })), 200, 'refresh'),
        );
        if (!json) {
          chain = undefined; // a failed refresh ends the chain
          continue;
        }
        current.token = String(json.refresh_token);
        current.uses++;
        await verify(json.access_token, { sub: current.userId, scope: 'users:view' });
      }
      if (chain) await revoke(chain);
    };

    let tempRoles = 0;
    const adminLoop = async () => {
      const pause = () => new Promise((r) => setTimeout(r, ADMIN_PAUSE_MS));
      while (!stopping) {
        if (performance.now() - adminTokenAt > 120_000) {
          const token = await timed('cc', () => ccToken(nextPort()));
          if (token) {
            adminToken = token;
            adminTokenAt = performance.now();
          }
        }
        const u = randomUser().id;
        const steps: [string, () => Promise<unknown>][] = [
          ['admin:assign', async () => expect(await api('PUT', `/users/${u}/roles/soak-extra`, {}), 200, 'assign')],
          ['admin:group-add', async () => expect(await api('POST', `/groups/${groupId}/members`, { users: [u] }), 200, 'add member')],
          [
            'admin:role-create',
            async () =>
              expect(await api('POST', '/roles', { name: `Soak temp ${++tempRoles}`, slug: `soak-temp-${tempRoles}`, capabilities: ['reports:view'], assign: { users: [u] } }), 201, 'create role'),
          ],
          ['admin:read', async () => expect(await api('GET', `/users/${u}/capabilities?explain=true`), 200, 'capabilities')],
          ['admin:role-delete', async () => expect(await api('DELETE', `/roles/soak-temp-${tempRoles}?strategy=unassign`), 200, 'delete role')],
          ['admin:unassign', async () => expect(await api('DELETE', `/users/${u}/roles/soak-extra`), 200, 'unassign')],
          ['admin:group-remove', async () => expect(await api('DELETE', `/groups/${groupId}/members/${u}`), 204, 'remove member')],
          ['admin:read', async () => expect(await api('GET', '/audit-events?limit=20'), 200, 'audit events')],
        ];
        for (const [op, step] of steps) {
          if (stopping) break;
          await timed(op, step);
          await pause();
        }
      }
    };

    const bulk: { submittedAtS?: number; jobId?: string; seconds?: number; serverSeconds?: number; status?: string; assigned?: number; result?: unknown } = {};
    const jobLoop = async () => {
      const startAt = measuredStart + BULK_AT * SOAK_SECONDS * 1000;
      while (!stopping && performance.now() < startAt) await new Promise((r) => setTimeout(r, 200));
      if (stopping) return;
      const t = performance.now();
      bulk.submittedAtS = (t - measuredStart) / 1000;
      const job = await timed('bulk:submit', async () => expect(await api('POST', '/bulk/role-assignments', { role: 'soak-bulk', action: 'add', users: bulkIds }), 202, 'bulk submit'));
      if (!job) return;
      bulk.jobId = String(job.id);
      console.log(`  bulk job ${bulk.jobId} submitted at ${bulk.submittedAtS.toFixed(0)} s`);
      // Followed to completion even after the load has stopped (up to 10 minutes).
      while (performance.now() - t < 600_000) {
        await new Promise((r) => setTimeout(r, JOB_POLL_MS));
        const view = await timed('bulk:status', async () => expect(await api('GET', `/jobs/${bulk.jobId}`), 200, 'job status'));
        if (!view) continue;
        bulk.status = String(view.status);
        if (view.status === 'completed' || view.status === 'failed') {
          bulk.seconds = (performance.now() - t) / 1000;
          bulk.serverSeconds = (Date.parse(String(view.finished_at)) - Date.parse(String(view.created_at))) / 1000;
          bulk.result = view.result;
          console.log(`  bulk job ${view.status} after ${bulk.seconds.toFixed(1)} s (server: created -> finished ${bulk.serverSeconds.toFixed(1)} s)`);
          if (view.status === 'failed') record('bulk:status', 0, `job failed: ${String(view.error)}`);
          break;
        }
      }
      if (bulk.seconds === undefined) {
        record('bulk:status', 0, 'job did not finish within 10 minutes');
        return;
      }
      await timed('bulk:check', async () => {
        const role = expect(await api('GET', '/roles/soak-bulk'), 200, 'bulk role');
        bulk.assigned = (role.assigned as { users: number }).users;
        if (bulk.assigned !== BULK_USERS) throw new Error(`soak-bulk is assigned to ${bulk.assigned} users, expected ${BULK_USERS}`);
      });
    };

    // ------------------------------------------------------------ run
    const startedAt = performance.now();
    measuredStart = startedAt + WARMUP_SECONDS * 1000;
    sampler = setInterval(() => {
      const t = (performance.now() - measuredStart) / 1000;
      for (const p of procs) {
        const m = vmRssMb(p.pid);
        if (m) p.rss.push([t, m.rss]);
      }
    }, RSS_INTERVAL_MS);
    let lastProgress = performance.now();
    progress = setInterval(() => {
      const now = performance.now();
      const secs = (now - lastProgress) / 1000;
      lastProgress = now;
      const t = (now - measuredStart) / 1000;
      const ops = [...interval.entries()]
        .filter(([op]) => !op.startsWith('admin:') && !op.startsWith('bulk:'))
        .map(([op, v]) => `${op} ${(v.n / secs).toFixed(0)}/s${v.e ? ` (${v.e} err)` : ''}`);
      const admin = [...interval.entries()].filter(([op]) => op.startsWith('admin:')).reduce((a, [, v]) => ({ n: a.n + v.n, e: a.e + v.e }), { n: 0, e: 0 });
      interval.clear();
      const rss = procs.map((p) => `${p.name} ${(p.rss.at(-1)?.[1] ?? NaN).toFixed(0)}`).join(' ');
      console.log(`  ${phase === 'warmup' ? 'warm-up ' : ''}t=${t.toFixed(0).padStart(4)} s  ${ops.join(', ')}, admin ${(admin.n / secs).toFixed(1)}/s${admin.e ? ` (${admin.e} err)` : ''}  | RSS MB ${rss}`);
    }, 10_000);

    phase = 'warmup';
    console.log(`warm-up ${WARMUP_SECONDS} s ...`);
    const loops: Promise<void>[] = [
      ...Array.from({ length: LOOPS.cc }, ccLoop),
      ...Array.from({ length: LOOPS.login }, loginLoop),
      ...Array.from({ length: LOOPS.refresh }, refreshLoop),
      ...Array.from({ length: LOOPS.admin }, adminLoop),
    ];
    const jobDone = jobLoop();
    const endAt = measuredStart + SOAK_SECONDS * 1000;
    while (performance.now() < endAt && !aborted) {
      if (phase === 'warmup' && performance.now() >= measuredStart) {
        phase = 'measured';
        console.log(`measuring ${SOAK_SECONDS} s ...`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const measuredSeconds = (performance.now() - measuredStart) / 1000;
    phase = 'drain';
    stopping = true;
    await Promise.all(loops);
    if (!aborted) await jobDone;
    clearInterval(sampler);
    clearInterval(progress);

    // ------------------------------------------------------------ report
    const ops = [...stats.entries()].sort(([a], [b]) => a.localeCompare(b));
    const rows = ops.map(([op, s]) => {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      return { op, count: s.count, errors: s.errors, rps: s.count / measuredSeconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, allPhases: { total: s.total, errors: s.totalErrors }, firstErrors: s.firstErrors };
    });
    const measuredCount = rows.reduce((n, r) => n + r.count, 0);
    const measuredErrors = rows.reduce((n, r) => n + r.errors, 0);
    const totalCount = rows.reduce((n, r) => n + r.allPhases.total, 0);
    const totalErrors = rows.reduce((n, r) => n + r.allPhases.errors, 0);

    const windowFits = measuredSeconds >= 2 * DRIFT_WINDOW_S;
    const memory = procs.map((p) => {
      const first = p.rss.filter(([t]) => t >= 0 && t < DRIFT_WINDOW_S).map(([, v]) => v);
      const last = p.rss.filter(([t]) => t >= measuredSeconds - DRIFT_WINDOW_S && t <= measuredSeconds).map(([, v]) => v);
      const firstMedian = median(first);
      const lastMedian = median(last);
      const drift = (lastMedian - firstMedian) / firstMedian;
      const measured = p.rss.filter(([t]) => t >= 0).map(([, v]) => v);
      const gcs = p.gc.filter(([t]) => t >= 0 && t <= measuredSeconds);
      return {
        name: p.name,
        pid: p.pid,
        firstMedianMb: firstMedian,
        lastMedianMb: lastMedian,
        drift,
        minMb: Math.min(...measured),
        maxMb: Math.max(...measured),
        hwmMb: vmRssMb(p.pid)?.hwm ?? NaN,
        samples: p.rss.length,
        pass: Number.isFinite(drift) && drift < DRIFT_LIMIT,
        perMinuteMedianMb: Array.from({ length: Math.max(1, Math.round(measuredSeconds / 60)) }, (_, i) => median(p.rss.filter(([t]) => t >= i * 60 && t < (i + 1) * 60).map(([, v]) => v))),
        // Diagnostic, with --trace-gc: the live heap after the first and last three full GCs of the measured phase.
        liveHeapAfterFullGcMb: gcs.length ? { first: median(gcs.slice(0, 3).map(([, v]) => v)), last: median(gcs.slice(-3).map(([, v]) => v)), fullGcs: gcs.length } : undefined,
      };
    });

    const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
    console.log('');
    console.log(`measured ${f(measuredSeconds, 0)} s after ${WARMUP_SECONDS} s warm-up; 2 serve + 1 worker; latencies in ms`);
    console.log(`${'operation'.padEnd(20)}${'count'.padStart(9)}${'errors'.padStart(8)}${'per s'.padStart(9)}${'p50'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}`);
    for (const r of rows) {
      console.log(`${r.op.padEnd(20)}${String(r.count).padStart(9)}${String(r.errors).padStart(8)}${f(r.rps).padStart(9)}${f(r.p50).padStart(9)}${f(r.p99).padStart(9)}${f(r.max).padStart(9)}`);
    }
    const rate = (e: number, n: number) => (n ? e / n : 0);
    console.log(
      `error rate (measured): ${measuredErrors} / ${measuredCount} = ${(rate(measuredErrors, measuredCount) * 100).toFixed(3)}%; ` +
        `all phases (warm-up and drain included): ${totalErrors} / ${totalCount}`,
    );
    for (const r of rows) for (const e of r.firstErrors) console.log(`  ${r.op}: ${e}`);
    console.log('');
    console.log(`RSS (VmRSS every ${RSS_INTERVAL_MS / 1000} s), drift = (median last ${DRIFT_WINDOW_S} s - median first ${DRIFT_WINDOW_S} s) / first; limit < ${DRIFT_LIMIT * 100}%`);
    if (!windowFits) console.log(`  note: ${f(measuredSeconds, 0)} s measured, so the two ${DRIFT_WINDOW_S} s windows overlap; drift means little in a short run`);
    console.log(`${'process'.padEnd(10)}${'pid'.padStart(8)}${'first MB'.padStart(10)}${'last MB'.padStart(10)}${'drift'.padStart(9)}${'min'.padStart(8)}${'max'.padStart(8)}${'VmHWM'.padStart(8)}`);
    for (const m of memory) {
      console.log(
        `${m.name.padEnd(10)}${String(m.pid).padStart(8)}${f(m.firstMedianMb).padStart(10)}${f(m.lastMedianMb).padStart(10)}${`${f(m.drift * 100)}%`.padStart(9)}${f(m.minMb, 0).padStart(8)}${f(m.maxMb, 0).padStart(8)}${f(m.hwmMb, 0).padStart(8)}  ${m.pass ? 'ok' : 'FAIL'}`,
      );
    }
    for (const m of memory) console.log(`  ${m.name} median RSS per minute: ${m.perMinuteMedianMb.map((v) => f(v, 0)).join(' ')} MB`);
    for (const m of memory)
      if (m.liveHeapAfterFullGcMb)
        console.log(`  ${m.name} live JS heap after full GC (--trace-gc): first ${f(m.liveHeapAfterFullGcMb.first)} MB, last ${f(m.liveHeapAfterFullGcMb.last)} MB (${m.liveHeapAfterFullGcMb.fullGcs} full GCs measured)`);
    console.log('');
    if (bulk.jobId)
      console.log(
        `bulk job (${BULK_USERS} users, submitted at ${f(bulk.submittedAtS ?? NaN, 0)} s): ${bulk.status}, POST -> completed seen ${f(bulk.seconds ?? NaN)} s, ` +
          `server created -> finished ${f(bulk.serverSeconds ?? NaN)} s; role assigned to ${bulk.assigned ?? '?'} users`,
      );
    else console.log('bulk job: not submitted');
    for (const p of procs) if (p.warnLines || p.errorLines) console.log(`${p.name}: ${p.warnLines} warning and ${p.errorLines} error log lines; first: ${p.firstLogLines[0]}`);

    Object.assign(report, {
      date: new Date().toISOString(),
      node: process.version,
      runId,
      config: { soakSeconds: SOAK_SECONDS, warmupSeconds: WARMUP_SECONDS, measuredSeconds, loops: LOOPS, bulkUsers: BULK_USERS, bulkAt: BULK_AT, loginUsers: LOGIN_USERS, adminPauseMs: ADMIN_PAUSE_MS, rssIntervalMs: RSS_INTERVAL_MS, nodeArgs: NODE_ARGS },
      operations: rows.map(({ op, count, errors, rps, p50, p99, max, allPhases, firstErrors }) => ({ op, count, errors, rps, p50, p99, max, allPhases, firstErrors })),
      errorRate: { measured: rate(measuredErrors, measuredCount), measuredErrors, measuredCount, allPhasesErrors: totalErrors, allPhasesCount: totalCount },
      memory,
      rssSeries: Object.fromEntries(procs.map((p) => [p.name, p.rss.map(([t, v]) => [Number(t.toFixed(1)), Number(v.toFixed(1))])])),
      // With --trace-gc: [seconds, live MB after the full GC, committed heap MB].
      fullGcSeries: Object.fromEntries(procs.filter((p) => p.gc.length).map((p) => [p.name, p.gc.filter(([t]) => Number.isFinite(t)).map(([t, live, committed]) => [Number(t.toFixed(1)), live, committed])])),
      bulk,
      logs: procs.map((p) => ({ name: p.name, warnLines: p.warnLines, errorLines: p.errorLines, first: p.firstLogLines })),
    });
    failed = totalErrors > 0 || memory.some((m) => !m.pass) || Boolean(aborted);
  } catch (err) {
    failed = true;
    aborted ??= err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(err);
  } finally {
    stopping = true;
    if (sampler) clearInterval(sampler);
    if (progress) clearInterval(progress);
    agent.destroy();
    // The worker may be finishing a job step; the serve processes drain in-flight requests.
    const shutdown = await Promise.all(
      procs.map(async (p) => {
        const t = performance.now();
        const r = await stopChild(p.child, p.name === 'worker' ? 60_000 : 15_000);
        p.shutdown = { ...r, ms: performance.now() - t };
        return p;
      }),
    );
    const unclean = shutdown.filter((p) => p.unexpectedExit || p.shutdown!.killed || p.shutdown!.code !== 0);
    console.log(
      `shutdown: ${shutdown.map((p) => `${p.name} ${p.unexpectedExit ?? (p.shutdown!.killed ? 'SIGKILLed' : `exit ${p.shutdown!.code ?? p.shutdown!.signal}`)} in ${(p.shutdown!.ms / 1000).toFixed(1)} s`).join(', ')}`,
    );
    if (unclean.length) failed = true;
    await deletePrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
    Object.assign(report, {
      aborted: aborted ?? null,
      shutdown: procs.map((p) => ({ name: p.name, unexpectedExit: p.unexpectedExit ?? null, ...p.shutdown })),
      pass: !failed,
    });
    if (report.date) {
      const out = join(HERE, 'results', `soak-${String(report.date).replace(/[:.]/g, '-')}.json`);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`written ${out}`);
    }
    console.log(failed ? `SOAK FAILED${aborted ? `: ${aborted.split('\n')[0]}` : ''}` : 'SOAK PASSED');
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
