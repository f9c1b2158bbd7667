/**
 * Client-credentials cost in CPU instructions (issue 14): Tessera (`serve`)
 * and the plain oidc-provider baseline of bench/token, each run under
 * valgrind's callgrind, which counts the instructions the server executes,
 * all of its threads included (JIT-compiled code, the garbage collector,
 * crypto). Unlike requests per second on a shared two-core VM, the count
 * hardly moves with whatever else the machine is doing, so it tells a change
 * in Tessera's own cost from a change in the machine. It leaves out the
 * kernel (sockets) and Redis's own work, which wrk's figures include.
 *
 *   each server: start under callgrind with instrumentation off, send
 *   BENCH_WARMUP_REQUESTS (6,000) to let the JIT settle, switch counting on,
 *   send BENCH_REQUESTS (4,000) over 16 keep-alive connections, switch it off.
 *
 *   npm run bench:instructions     (needs Debian's valgrind; about 7 minutes)
 *
 * The ratio printed is baseline instructions per request / Tessera's, the
 * same direction as bench/token's throughput ratio (target 0.9).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../test/support/tessera.ts';
import { activePrivateJwk, basic, deletePrefix, httpRequest, killChildren, recreateDatabase, REDIS_URL, startTesseraProcess, stopChild, tesseraProcessEnv } from './lib/harness.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4_000);
const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 6_000);
const CONNECTIONS = 16;
const TARGET = 0.9;
const SCOPE = 'users:view audit:read';
// vgdb (behind callgrind_control) names its channel after the user and host; a bare container has neither set.
const VG_ENV = { USER: process.env.USER || 'root', LOGNAME: process.env.LOGNAME || 'root', HOST: process.env.HOST || 'localhost' };

function requireValgrind(): void {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'pipe' });
  } catch {
    console.error('this bench needs valgrind (Debian package "valgrind"): apt-get install valgrind');
    process.exit(2);
  }
}

async function untilUp(port: number, child: ChildProcess): Promise<void> {
  const agent = new Agent();
  try {
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) throw new Error(`server under callgrind exited with ${child.exitCode}`);
      const up = await httpRequest(agent, port, 'GET', '/.well-known/openid-configuration', {}, undefined, 5_000).then((r) => r.status === 200, () => false);
      if (up) return;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    throw new Error('server under callgrind did not answer within 10 minutes');
  } finally {
    agent.destroy();
  }
}

/** Sends `count` client-credentials requests over CONNECTIONS keep-alive sockets; every one must succeed. */
async function send(port: number, authorization: string, body: string, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let left = count;
  let failed: string | undefined;
  const worker = async () => {
    while (left-- > 0 && !failed) {
      const res = await httpRequest(agent, port, 'POST', '/token', { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body);
      if (res.status !== 200) failed = `${res.status} ${res.text}`;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
  if (failed) throw new Error(`token request failed: ${failed}`);
}

/** Runs one server under callgrind and returns its instructions per counted request. */
async function count(name: string, args: string[], env: Record<string, string>, port: number, authorization: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `tessera-callgrind-${name}-`));
  const child = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'cg.%p')}`, process.execPath, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...VG_ENV },
    stdio: 'ignore',
  });
  try {
    await untilUp(port, child);
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, resource: `http://127.0.0.1:${port}/api` }).toString();
    console.log(`${name}: up; ${WARMUP} warm-up requests ...`);
    await send(port, authorization, body, WARMUP);
    const control = (...a: string[]) => {
      const out = execFileSync('callgrind_control', [...a, String(child.pid)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...VG_ENV } }).toString();
      if (process.env.BENCH_DEBUG) console.log(out);
    };
    control('-i', 'on');
    console.log(`${name}: counting ${REQUESTS} requests ...`);
    await send(port, authorization, body, REQUESTS);
    control('-i', 'off');
    control('-d');
    // The dump is written when the valgrind process next looks at its command channel, not at once.
    const dumped = () => readdirSync(dir).some((f) => f.endsWith('.1') && /^totals: \d+/m.test(readFileSync(join(dir, f), 'utf8')));
    for (let i = 0; i < 120 && !dumped(); i++) await new Promise((r) => setTimeout(r, 500));
    await stopChild(child, 30_000);
    // The dump taken while counting is the `.1` part; the final one (after counting stopped) adds nothing.
    const parts = readdirSync(dir).filter((f) => /\.\d+$/.test(f));
    const total = parts.reduce((sum, f) => sum + Number(/^totals: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1] ?? 0), 0);
    if (!total) throw new Error(`${name}: callgrind recorded nothing (${parts.join(', ') || 'no dump'})`);
    return total / REQUESTS;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  requireValgrind();
  delete process.env.NODE_ENV;
  delete process.env.LOG_LEVEL;
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench-i-${runId}:`;
  const clientId = `bench-automation-${runId}`;
  const secret = randomBytes(32).toString('base64url');
  const authorization = basic(clientId, secret);
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  try {
    const port = await freePort();
    const env = tesseraProcessEnv({ port, prefix, slug: `bench-${runId}`, clientId, secret });
    // A first ordinary start migrates, bootstraps the tenant and makes the signing keys.
    await stopChild(await startTesseraProcess('serve', env, { onLine: () => undefined }));
    const tessera = await count('tessera', ['src/main.ts', 'serve'], env, port, authorization);

    const baselinePort = await freePort();
    const baseline = await count(
      'baseline',
      [join('bench', 'baseline', 'plainProvider.ts')],
      {
        BENCH_PORT: String(baselinePort),
        BENCH_REDIS_URL: REDIS_URL,
        BENCH_REDIS_PREFIX: `bench-ib-${runId}:`,
        BENCH_REDIRECT_URI: 'http://127.0.0.1/cb',
        BENCH_PRIVATE_JWK: JSON.stringify(await activePrivateJwk()),
        BENCH_ID_TOKEN_JWK: JSON.stringify(await activePrivateJwk('RS256')),
        BENCH_CC_CLIENT_ID: clientId,
        BENCH_CC_CLIENT_SECRET: secret,
        BENCH_WEB_CLIENT_ID: `bench-web-${runId}`,
        BENCH_WEB_CLIENT_SECRET: randomBytes(32).toString('base64url'),
        BENCH_CC_SCOPE: SCOPE,
        BENCH_USER_SCOPE: SCOPE,
        BENCH_ACCOUNT_ID: '00000000-0000-4000-8000-000000000000',
        BENCH_REFRESH_TOKENS: '0',
      },
      baselinePort,
      authorization,
    );
    const ratio = baseline / tessera;
    console.log(`\nclient credentials, instructions per request (callgrind; ${WARMUP} warm-up, ${REQUESTS} counted, ${CONNECTIONS} connections)`);
    console.log(`  tessera (serve)      ${Math.round(tessera).toLocaleString('en')}`);
    console.log(`  plain oidc-provider  ${Math.round(baseline).toLocaleString('en')}`);
    console.log(`  ratio                ${ratio.toFixed(3)}  (>= ${TARGET} ${ratio >= TARGET ? 'PASS' : 'FAIL'})`);
  } finally {
    await Promise.all([deletePrefix(redis, prefix), deletePrefix(redis, `bench-ib-${runId}:`)]).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  killChildren();
  process.exit(1);
});
