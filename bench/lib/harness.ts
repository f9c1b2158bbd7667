/**
 * Shared bench machinery: child processes that print `READY {json}`, a
 * keep-alive load loop on node:http, latency statistics, alternating rounds,
 * and database / Redis setup and cleanup.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import pg from 'pg';

export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
export const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2_000);
export const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2_000);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const DB_NAME = 'tessera_bench';
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/${DB_NAME}`;
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>();
export function killChildren() {
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
export function startChild<T>(file: string, env: Record<string, string>, extraArgs: string[] = []): Promise<{ child: ChildProcess; info: T }> {
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

/**
 * SIGTERM, then SIGKILL if the child has not exited within `graceMs`. Resolves
 * with how it ended: `killed` when SIGKILL was needed.
 */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<void>((r) => (ended() ? r() : child.once('exit', () => r())));
  let killed = false;
  if (!ended()) {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    if (!ended()) {
      killed = true;
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
    }
  }
  children.delete(child);
  return { code: child.exitCode, signal: child.signalCode, killed };
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The line `src/main.ts` prints once each mode is up. */
const READY_LINE: Record<'all' | 'serve' | 'worker', RegExp> = {
  all: /^Tessera is listening on port /,
  serve: /^Tessera is listening on port /,
  worker: /^Tessera workers are running/,
};

/**
 * Runs Tessera's own entry point as `npm run serve` / `npm run worker` do
 * (`node [nodeArgs] --import tsx src/main.ts <mode>`), but with node as the
 * direct child, so `child.pid` is the process that serves (no npm or tsx CLI
 * wrapper in between). Configuration comes from `env` on top of this process's
 * environment. Every stdout/stderr line goes to `onLine` (default: echoed with
 * a prefix). Resolves once the mode's ready line is printed; the child is
 * SIGTERMed when this process exits, like `startChild`'s.
 */
export function startTesseraProcess(
  mode: 'all' | 'serve' | 'worker',
  env: Record<string, string>,
  opts: { nodeArgs?: string[]; onLine?: (line: string, stream: 'stdout' | 'stderr') => void; timeoutMs?: number } = {},
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts', mode], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const onLine = opts.onLine ?? ((line: string) => process.stdout.write(`[${mode} ${child.pid}] ${line}\n`));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => reject(new Error(`tessera ${mode} did not become ready within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`tessera ${mode} exited early with ${code ?? signal}`));
    });
    createInterface({ input: child.stderr! }).on('line', (line) => onLine(line, 'stderr'));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      onLine(line, 'stdout');
      if (!ready && READY_LINE[mode].test(line)) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

// ---------------------------------------------------------------- load generator

export interface Target {
  port: number;
  /** Builds the next request body for worker `w`. */
  body(w: number): string;
  authorization: string;
  /** Called with each successful response body (refresh chaining). */
  onResponse?(w: number, json: Record<string, unknown>): void;
}

export interface Sample {
  ok: number;
  errors: number;
  latencies: number[];
  elapsedMs: number;
  firstError?: string;
}

/**
 * One HTTP request on loopback through `agent`, answered with its status and
 * body text; with `timeoutMs`, a request without an answer by then fails.
 */
export function httpRequest(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs?: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        ...(timeoutMs ? { timeout: timeoutMs } : {}),
        headers: { accept: 'application/json', ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    if (timeoutMs) req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A token request for a load target. */
export function post(agent: Agent, t: Target, body: string): Promise<{ status: number; text: string }> {
  return httpRequest(agent, t.port, 'POST', '/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: t.authorization }, body);
}

/** CONCURRENCY workers, each with its own keep-alive socket, loop until `durationMs` has passed. */
export async function load(agent: Agent, t: Target, durationMs: number): Promise<Sample> {
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

export const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  firstError?: string;
}

export function summarise(samples: Sample[]): Figures {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const ok = samples.reduce((n, s) => n + s.ok, 0);
  const ms = samples.reduce((n, s) => n + s.elapsedMs, 0);
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  const firstError = samples.find((s) => s.firstError)?.firstError;
  return { rps: ok / (ms / 1_000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: ok, errors, ...(firstError ? { firstError } : {}) };
}

// ---------------------------------------------------------------- setup

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Drops and creates a database on the PG_ADMIN_URL server (default: the bench database, DB_NAME). */
export async function recreateDatabase(name: string = DB_NAME) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

/** The URL of database `name` on the PG_ADMIN_URL server (what `recreateDatabase(name)` creates). */
export function databaseUrlFor(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function activePrivateJwk(alg: 'ES256' | 'RS256' = 'ES256'): Promise<Record<string, unknown>> {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ private_jwk: Record<string, unknown> | string }>(
      `SELECT private_jwk FROM signing_keys WHERE status = 'active' AND alg = $1 ORDER BY activated_at DESC NULLS LAST LIMIT 1`,
      [alg],
    );
    const jwk = rows[0]?.private_jwk;
    if (!jwk) throw new Error(`no active ${alg} signing key in signing_keys`);
    return typeof jwk === 'string' ? (JSON.parse(jwk) as Record<string, unknown>) : jwk;
  } finally {
    await db.end();
  }
}

export async function deletePrefix(redis: Redis, prefix: string) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}


/** Warm-up, then ROUNDS alternating rounds per target so drift can't favour one; returns figures per target. */
export async function measureAlternating<K extends string>(targets: Record<K, Target>, label: string, agents: Set<Agent>): Promise<Record<K, Figures>> {
  const names = Object.keys(targets) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as Sample[]])) as Record<K, Sample[]>;
  for (const who of names) {
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    agents.add(agent);
    await load(agent, targets[who], WARMUP_MS);
    agent.destroy();
  }
  for (let round = 0; round < ROUNDS; round++) {
    const seq = round % 2 === 0 ? names : [...names].reverse();
    for (const who of seq) {
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      agents.add(agent);
      const s = await load(agent, targets[who], ROUND_MS);
      agent.destroy();
      samples[who].push(s);
      console.log(`  ${label.padEnd(7)} round ${round + 1} ${String(who).padEnd(8)} ${(s.ok / (s.elapsedMs / 1000)).toFixed(0)} req/s${s.errors ? ` (${s.errors} errors: ${s.firstError})` : ''}`);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarise(samples[n])])) as Record<K, Figures>;
}

/**
 * The V8 flags `npm run worker` starts workers with, read from package.json so
 * every bench measures workers exactly as they are deployed.
 */
export function workerNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.worker!.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('--import')).filter((w) => w.startsWith('--'));
}

/**
 * Configuration of an in-process Tessera for a bench: loopback port, the bench
 * database, its own Redis prefix, a bootstrapped tenant with known credentials.
 */
export function benchConfig(opts: { port: number; prefix: string; slug: string; clientId: string; secret: string }): Config {
  // The child-process environment, plus what an in-process bench pins: production mode, ES256, a quiet log.
  return loadConfig({ ...tesseraProcessEnv(opts), NODE_ENV: 'production', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', TESSERA_SIGNING_ALG: 'ES256' });
}

/**
 * The environment a bench gives a Tessera child process: what a user sets to run
 * it (loopback port, the bench database, its own Redis prefix, a bootstrapped
 * tenant with known automation credentials) and nothing else, so Tessera's own
 * defaults are what is measured. BENCH_TESSERA_LOG_LEVEL measures a log level's cost.
 */
export function tesseraProcessEnv(opts: { port: number; prefix: string; slug: string; clientId: string; secret: string; extra?: Record<string, string> }): Record<string, string> {
  return {
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    TESSERA_ISSUER: `http://127.0.0.1:${opts.port}`,
    DATABASE_URL,
    REDIS_URL,
    TESSERA_REDIS_PREFIX: opts.prefix,
    TESSERA_BOOTSTRAP_TENANT: opts.slug,
    TESSERA_BOOTSTRAP_OWNER_EMAIL: `owner@${opts.slug}.test`,
    TESSERA_BOOTSTRAP_OWNER_PASSWORD: `pw-${randomBytes(12).toString('hex')}`,
    TESSERA_BOOTSTRAP_CLIENT_ID: opts.clientId,
    TESSERA_BOOTSTRAP_CLIENT_SECRET: opts.secret,
    ...(process.env.BENCH_TESSERA_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_TESSERA_LOG_LEVEL } : {}),
    ...opts.extra,
  };
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}
