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
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ALL_CAPABILITY_IDS, SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import {
  activePrivateJwk,
  basic,
  CONCURRENCY,
  DATABASE_URL,
  DB_NAME,
  deletePrefix,
  killChildren,
  measureAlternating,
  post,
  recreateDatabase,
  REDIS_URL,
  ROUND_MS,
  ROUNDS,
  startChild,
  stopChild,
  WARMUP_MS,
  type Figures,
  type Target,
} from './lib/harness.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGETS = { cc: 0.85, refresh: 0.8 } as const;

type CaseName = keyof typeof TARGETS;
type Who = 'tessera' | 'baseline';

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
        // Tessera signs ID tokens with RS256 by default (SPEC §6); the baseline signs its ID tokens with the same key.
        BENCH_ID_TOKEN_JWK: JSON.stringify(await activePrivateJwk('RS256')),
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
      const figures = await measureAlternating(targets[c], c, agents);
      const tf = figures.tessera;
      const bf = figures.baseline;
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
