/**
 * Token-endpoint benchmark: Tessera against a plain oidc-provider baseline,
 * measured alternately in the same run under identical load.
 *
 *   (a) client_credentials, client_secret_basic, JWT (ES256) access token for a resource indicator
 *   (b) refresh_token with rotation, JWT (ES256) access token, Redis-backed models on both sides
 *
 * Each server runs in its own child process; this process is the load generator
 * (node:http with keep-alive, CONCURRENCY workers looping for a fixed time).
 * Results are printed and written to bench/results/token.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ALL_CAPABILITY_IDS, SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2_000);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 4_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = 'tessera_bench';
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/${DB_NAME}`;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGETS = { cc: 0.85, refresh: 0.8 } as const;

type CaseName = keyof typeof TARGETS;
type Who = 'tessera' | 'baseline';

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>();
function killChildren() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killChildren();
    process.exit(130);
  });
}

/** Spawns `node --import tsx file` and resolves with the JSON of its `READY {...}` line. */
function startChild<T>(file: string, env: Record<string, string>, extraArgs: string[] = []): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, [...extraArgs, '--import', 'tsx', file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not become ready within 60 s`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited early with code ${code}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve({ child, info: JSON.parse(line.slice(6)) as T });
      } else process.stdout.write(`[${file.split('/').pop()}] ${line}\n`);
    });
  });
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
  children.delete(child);
}

// ---------------------------------------------------------------- load generator

interface Target {
  port: number;
  /** Builds the next request body for worker `w`. */
  body(w: number): string;
  authorization: string;
  /** Called with each successful response body (refresh chaining). */
  onResponse?(w: number, json: Record<string, unknown>): void;
}

interface Sample {
  ok: number;
  errors: number;
  latencies: number[];
  elapsedMs: number;
  firstError?: string;
}

function post(agent: Agent, t: Target, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port: t.port,
        method: 'POST',
        path: '/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          authorization: t.authorization,
          accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** CONCURRENCY workers, each with its own keep-alive socket, loop until `durationMs` has passed. */
async function load(agent: Agent, t: Target, durationMs: number): Promise<Sample> {
  const sample: Sample = { ok: 0, errors: 0, latencies: [], elapsedMs: 0 };
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async (w: number) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await post(agent, t, t.body(w));
        const dt = performance.now() - t0;
        if (res.status === 200) {
          sample.ok++;
          sample.latencies.push(dt);
          t.onResponse?.(w, JSON.parse(res.text) as Record<string, unknown>);
        } else {
          sample.errors++;
          sample.firstError ??= `${res.status} ${res.text.slice(0, 200)}`;
          if (t.onResponse) return; // a broken refresh chain can't continue
        }
      } catch (err) {
        sample.errors++;
        sample.firstError ??= (err as Error).message;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  sample.elapsedMs = performance.now() - start;
  return sample;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  firstError?: string;
}

function summarise(samples: Sample[]): Figures {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const ok = samples.reduce((n, s) => n + s.ok, 0);
  const ms = samples.reduce((n, s) => n + s.elapsedMs, 0);
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  const firstError = samples.find((s) => s.firstError)?.firstError;
  return { rps: ok / (ms / 1_000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: ok, errors, ...(firstError ? { firstError } : {}) };
}

// ---------------------------------------------------------------- setup

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function recreateDatabase() {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DB_NAME}`);
  } finally {
    await admin.end();
  }
}

async function activePrivateJwk(): Promise<Record<string, unknown>> {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ private_jwk: Record<string, unknown> | string }>(
      `SELECT private_jwk FROM signing_keys WHERE status = 'active' AND alg = 'ES256' ORDER BY activated_at DESC NULLS LAST LIMIT 1`,
    );
    const jwk = rows[0]?.private_jwk;
    if (!jwk) throw new Error('no active ES256 signing key in signing_keys');
    return typeof jwk === 'string' ? (JSON.parse(jwk) as Record<string, unknown>) : jwk;
  } finally {
    await db.end();
  }
}

async function deletePrefix(redis: Redis, prefix: string) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

interface TesseraInfo {
  issuer: string;
  tenantId: string;
  admin: { id: string; secret: string };
  web: { id: string; secret: string };
  user: { id: string; email: string; password: string };
}

async function main() {
  const runId = randomBytes(4).toString('hex');
  const tesseraPrefix = `bench-t-${runId}:`;
  const baselinePrefix = `bench-b-${runId}:`;
  const ccClientId = `bench-automation-${runId}`;
  const ccSecret = randomBytes(32).toString('base64url');
  const viewerScopes = SYSTEM_ROLES.find((r) => r.slug === 'viewer')!.capabilities.join(' ');
  const profile = process.env.BENCH_CPU_PROF; // a directory: run the servers under --cpu-prof
  const profArgs = (name: string) => (profile ? ['--cpu-prof', '--cpu-prof-dir', join(profile, name)] : []);

  console.log(`setting up (database ${DB_NAME}, redis prefixes ${tesseraPrefix} ${baselinePrefix}) ...`);
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  const agents = new Set<Agent>();
  try {
    const tesseraPort = await freePort();
    const tessera = await startChild<TesseraInfo>(
      join(HERE, 'tesseraServer.ts'),
      {
        BENCH_PORT: String(tesseraPort),
        BENCH_DATABASE_URL: DATABASE_URL,
        BENCH_REDIS_URL: REDIS_URL,
        BENCH_REDIS_PREFIX: tesseraPrefix,
        BENCH_REDIRECT_URI: REDIRECT_URI,
        BENCH_CC_CLIENT_ID: ccClientId,
        BENCH_CC_CLIENT_SECRET: ccSecret,
      },
      profArgs('tessera'),
    );
    const ti = tessera.info;

    // Tessera's refresh tokens come from the real flow: login form + code + PKCE, one per worker.
    const webConfig = await discover(ti.issuer, ti.web.id, ti.web.secret);
    const tesseraChains: string[] = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      const { tokens } = await signIn(ti.issuer, webConfig, ti.user, { scope: `openid offline_access ${viewerScopes}` });
      if (!tokens.refresh_token) throw new Error('Tessera issued no refresh token');
      tesseraChains.push(tokens.refresh_token);
    }

    const baselinePort = await freePort();
    const baseline = await startChild<{ issuer: string; refreshTokens: string[] }>(
      join(HERE, 'baseline', 'plainProvider.ts'),
      {
        BENCH_PORT: String(baselinePort),
        BENCH_REDIS_URL: REDIS_URL,
        BENCH_REDIS_PREFIX: baselinePrefix,
        BENCH_REDIRECT_URI: REDIRECT_URI,
        BENCH_PRIVATE_JWK: JSON.stringify(await activePrivateJwk()),
        BENCH_CC_CLIENT_ID: ccClientId,
        BENCH_CC_CLIENT_SECRET: ccSecret,
        BENCH_WEB_CLIENT_ID: ti.web.id,
        BENCH_WEB_CLIENT_SECRET: ti.web.secret,
        BENCH_CC_SCOPE: ALL_CAPABILITY_IDS.join(' '),
        BENCH_USER_SCOPE: viewerScopes,
        BENCH_ACCOUNT_ID: ti.user.id,
        BENCH_REFRESH_TOKENS: String(CONCURRENCY),
      },
      profArgs('baseline'),
    );
    const baselineChains = [...baseline.info.refreshTokens];

    const targets: Record<CaseName, Record<Who, Target>> = {
      cc: {
        tessera: {
          port: tesseraPort,
          authorization: basic(ccClientId, ccSecret),
          body: () => new URLSearchParams({ grant_type: 'client_credentials', resource: `${ti.issuer}/api` }).toString(),
        },
        baseline: {
          port: baselinePort,
          authorization: basic(ccClientId, ccSecret),
          body: () => new URLSearchParams({ grant_type: 'client_credentials', resource: `${baseline.info.issuer}/api` }).toString(),
        },
      },
      refresh: {
        tessera: {
          port: tesseraPort,
          authorization: basic(ti.web.id, ti.web.secret),
          body: (w) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tesseraChains[w]! }).toString(),
          onResponse: (w, json) => void (tesseraChains[w] = String(json.refresh_token)),
        },
        baseline: {
          port: baselinePort,
          authorization: basic(ti.web.id, ti.web.secret),
          body: (w) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: baselineChains[w]! }).toString(),
          onResponse: (w, json) => void (baselineChains[w] = String(json.refresh_token)),
        },
      },
    };

    // Sanity: one request each, and the access token must be a JWT signed with ES256 by the same key.
    for (const c of ['cc', 'refresh'] as const) {
      for (const who of ['tessera', 'baseline'] as const) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        const t = targets[c][who];
        const res = await post(agent, t, t.body(0));
        agent.destroy();
        if (res.status !== 200) throw new Error(`${who} ${c}: ${res.status} ${res.text}`);
        const json = JSON.parse(res.text) as { access_token: string; scope?: string };
        t.onResponse?.(0, json);
        const header = JSON.parse(Buffer.from(json.access_token.split('.')[0]!, 'base64url').toString()) as { alg: string; typ: string; kid: string };
        console.log(`  ${who.padEnd(8)} ${c.padEnd(7)} alg=${header.alg} typ=${header.typ} kid=${header.kid.slice(0, 8)} scopes=${(json.scope ?? '').split(' ').length} bytes=${res.text.length}`);
      }
    }

    const results: Record<CaseName, Record<Who, Figures> & { ratio: { rps: number; p50: number; p99: number }; target: number; pass: boolean }> =
      {} as never;
    for (const c of ['cc', 'refresh'] as const) {
      const samples: Record<Who, Sample[]> = { tessera: [], baseline: [] };
      const order: Who[] = ['baseline', 'tessera'];
      for (const who of order) {
        const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
        agents.add(agent);
        await load(agent, targets[c][who], WARMUP_MS);
        agent.destroy();
      }
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which server goes first so drift (thermal, GC, Redis growth) does not favour one.
        const seq: Who[] = round % 2 === 0 ? ['tessera', 'baseline'] : ['baseline', 'tessera'];
        for (const who of seq) {
          const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
          agents.add(agent);
          const s = await load(agent, targets[c][who], ROUND_MS);
          agent.destroy();
          samples[who].push(s);
          console.log(`  ${c.padEnd(7)} round ${round + 1} ${who.padEnd(8)} ${(s.ok / (s.elapsedMs / 1000)).toFixed(0)} req/s${s.errors ? ` (${s.errors} errors: ${s.firstError})` : ''}`);
        }
      }
      const tf = summarise(samples.tessera);
      const bf = summarise(samples.baseline);
      const ratio = { rps: tf.rps / bf.rps, p50: tf.p50 / bf.p50, p99: tf.p99 / bf.p99 };
      results[c] = { tessera: tf, baseline: bf, ratio, target: TARGETS[c], pass: ratio.rps >= TARGETS[c] };
    }

    const label: Record<CaseName, string> = { cc: '(a) client_credentials', refresh: '(b) refresh_token' };
    const f = (n: number, d = 0) => n.toFixed(d);
    console.log('');
    console.log(`concurrency ${CONCURRENCY}, ${ROUNDS} x ${ROUND_MS / 1000} s per server per case after ${WARMUP_MS / 1000} s warm-up; latencies in ms`);
    console.log(
      `${'case'.padEnd(24)}${'tessera req/s'.padStart(14)}${'p50'.padStart(8)}${'p99'.padStart(8)} |${'baseline req/s'.padStart(15)}${'p50'.padStart(8)}${'p99'.padStart(8)} |${'ratio'.padStart(7)}  target`,
    );
    for (const c of ['cc', 'refresh'] as const) {
      const r = results[c];
      console.log(
        `${label[c].padEnd(24)}${f(r.tessera.rps).padStart(14)}${f(r.tessera.p50, 2).padStart(8)}${f(r.tessera.p99, 2).padStart(8)} |` +
          `${f(r.baseline.rps).padStart(15)}${f(r.baseline.p50, 2).padStart(8)}${f(r.baseline.p99, 2).padStart(8)} |` +
          `${f(r.ratio.rps, 2).padStart(7)}  >= ${r.target} ${r.pass ? 'PASS' : 'FAIL'}`,
      );
      for (const who of ['tessera', 'baseline'] as const) if (r[who].errors) console.log(`  ${who} ${c}: ${r[who].errors} errors, first: ${r[who].firstError}`);
    }

    const out = join(HERE, 'results', 'token.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, roundMs: ROUND_MS, rounds: ROUNDS, results }, null, 2)}\n`,
    );
    console.log(`\nwritten ${out}`);

    await Promise.all([stopChild(tessera.child), stopChild(baseline.child)]);
  } finally {
    for (const agent of agents) agent.destroy();
    killChildren();
    await Promise.all([deletePrefix(redis, tesseraPrefix), deletePrefix(redis, baselinePrefix)]).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  killChildren();
  process.exit(1);
});
