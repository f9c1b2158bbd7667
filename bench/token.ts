/**
 * Token-endpoint benchmark, driven by Debian's `wrk` (issue 14): Tessera as
 * users start it, against a plain oidc-provider 9 with the same key,
 * algorithm, lifetime, claims and Redis-backed models, measured alternately
 * in one run (`wrk -t1 -c16`, rounds alternating between the two servers).
 *
 *   modes:  all    `npm start`'s mode: HTTP and workers in one process, default log level
 *           serve  `npm run serve`: HTTP only, default log level
 *   cases:  (a) client_credentials, client_secret_basic, scope=users:view audit:read, resource=<issuer>/api, ES256 JWT
 *           (b) refresh_token with rotation (a pool of fresh chains per round), ES256 JWT + RS256 ID token
 *
 *   npm run bench:token     (targets: cc >= 0.9, refresh >= 0.85 for the default start)
 *
 * Both Tessera modes run on the bench's Postgres database, so they share one
 * signing key with the baseline; on the token path a steady-state request
 * touches Redis only, so the database behind it does not enter the figures.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import { activePrivateJwk, basic, DATABASE_URL, DB_NAME, deletePrefix, killChildren, recreateDatabase, REDIS_URL, startChild, startTesseraProcess, stopChild } from './lib/harness.ts';
import { CC_LUA, median, REFRESH_LUA, requireWrk, wrk, WRK_DEFAULTS, type WrkFigures } from './lib/wrk.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGETS = { cc: 0.9, refresh: 0.85 } as const;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const { seconds: SECONDS, connections: CONNECTIONS } = WRK_DEFAULTS;
/** Refresh chains per round: more than the connections, so a connection never waits for a token. */
const CHAINS = CONNECTIONS * 3;
const MODES = (process.env.BENCH_MODES ?? 'all,serve').split(',') as Array<'all' | 'serve'>;
const CC_SCOPE = 'users:view audit:read';
const WARMUPS = Number(process.env.BENCH_WARMUPS ?? 2);
const CASES = (process.env.BENCH_CASES ?? 'cc,refresh').split(',') as Array<'cc' | 'refresh'>;
/** For investigation only (README figures use neither): e.g. BENCH_TESSERA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_ARGS = { tessera: (process.env.BENCH_TESSERA_NODE_ARGS ?? '').split(' ').filter(Boolean), baseline: (process.env.BENCH_BASELINE_NODE_ARGS ?? '').split(' ').filter(Boolean) };

type CaseName = keyof typeof TARGETS;

/** User and system CPU seconds a process has used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main() {
  requireWrk();
  // Tessera's own defaults are what is measured: nothing of this shell's leaks into the children.
  delete process.env.NODE_ENV;
  delete process.env.LOG_LEVEL;
  const runId = randomBytes(4).toString('hex');
  const tesseraPrefix = `bench-t-${runId}:`;
  const baselinePrefix = `bench-b-${runId}:`;
  const ccClientId = `bench-automation-${runId}`;
  const ccSecret = randomBytes(32).toString('base64url');
  const slug = `bench-${runId}`;
  const ownerPassword = `pw-${randomBytes(12).toString('hex')}`;
  const viewerScopes = SYSTEM_ROLES.find((r) => r.slug === 'viewer')!.capabilities.join(' ');
  const work = mkdtempSync(join(tmpdir(), 'tessera-bench-token-'));
  console.log(`setting up (database ${DB_NAME}, redis prefixes ${tesseraPrefix} ${baselinePrefix}, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} rounds) ...`);
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  const results: Record<string, Record<CaseName, { tessera: WrkFigures[]; baseline: WrkFigures[]; ratio: number; cpuRatio: number; target: number }>> = {};
  try {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    // What a user sets to run Tessera; nothing else (no NODE_ENV, no LOG_LEVEL: the defaults are measured).
    const tesseraEnv = {
      PORT: String(port),
      HOST: '127.0.0.1',
      TESSERA_ISSUER: issuer,
      DATABASE_URL,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: tesseraPrefix,
      TESSERA_BOOTSTRAP_TENANT: slug,
      TESSERA_BOOTSTRAP_OWNER_EMAIL: `owner@${slug}.test`,
      TESSERA_BOOTSTRAP_OWNER_PASSWORD: ownerPassword,
      TESSERA_BOOTSTRAP_CLIENT_ID: ccClientId,
      TESSERA_BOOTSTRAP_CLIENT_SECRET: ccSecret,
      // The bench signs one user in many times to make refresh chains.
      TESSERA_LOGIN_MAX_PER_ACCOUNT: '100000',
      TESSERA_LOGIN_MAX_PER_IP: '100000',
      // Variants for measuring a setting's cost (README figures use the defaults): BENCH_TESSERA_LOG_LEVEL=warn.
      ...(process.env.BENCH_TESSERA_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_TESSERA_LOG_LEVEL } : {}),
    };
    const quiet = () => undefined;
    let tessera = await startTesseraProcess(MODES[0]!, tesseraEnv, { onLine: quiet, nodeArgs: NODE_ARGS.tessera });
    // Set up through the admin API, as an operator would: a web app and a Viewer user.
    const token = ((await (await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: basic(ccClientId, ccSecret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })).json()) as { access_token: string }).access_token;
    const api = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${issuer}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.json().catch(() => ({}))) as Record<string, string>;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const web = await api('POST', '/applications', { name: 'Bench web', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const user = { email: `bench@${slug}.test`, password: `bench password ${randomBytes(6).toString('hex')}` };
    const userRow = await api('POST', '/users', { ...user, display_name: 'Bench' });
    await api('PUT', `/users/${userRow.id}/roles/viewer`, {});

    const baselinePort = await freePort();
    const baseline = await startChild<{ issuer: string; refreshTokens: string[] }>(join(HERE, 'baseline', 'plainProvider.ts'), {
      BENCH_PORT: String(baselinePort),
      BENCH_REDIS_URL: REDIS_URL,
      BENCH_REDIS_PREFIX: baselinePrefix,
      BENCH_REDIRECT_URI: REDIRECT_URI,
      BENCH_PRIVATE_JWK: JSON.stringify(await activePrivateJwk()),
      BENCH_ID_TOKEN_JWK: JSON.stringify(await activePrivateJwk('RS256')),
      BENCH_CC_CLIENT_ID: ccClientId,
      BENCH_CC_CLIENT_SECRET: ccSecret,
      BENCH_WEB_CLIENT_ID: web.id!,
      BENCH_WEB_CLIENT_SECRET: web.client_secret!,
      BENCH_CC_SCOPE: CC_SCOPE,
      BENCH_USER_SCOPE: viewerScopes,
      BENCH_ACCOUNT_ID: userRow.id!,
      // Fresh chains for every round of every mode.
      BENCH_REFRESH_TOKENS: String(CHAINS * ROUNDS * MODES.length + CHAINS),
    }, NODE_ARGS.baseline);
    const baselinePool = [...baseline.info.refreshTokens];
    const baselineUrl = `${baseline.info.issuer}/token`;

    const ccScript = (target: string) => {
      const file = join(work, `cc-${target.replace(/\W/g, '')}.lua`);
      writeFileSync(file, CC_LUA(basic(ccClientId, ccSecret), new URLSearchParams({ grant_type: 'client_credentials', scope: CC_SCOPE, resource: `${target}/api` }).toString()));
      return file;
    };
    const refreshScript = join(work, 'refresh.lua');
    writeFileSync(refreshScript, REFRESH_LUA(basic(web.id!, web.client_secret!)));
    const pool = (name: string, tokens: string[]) => {
      const file = join(work, `${name}.txt`);
      writeFileSync(file, `${tokens.join('\n')}\n`);
      return file;
    };
    const config = await discover(issuer, web.id!, web.client_secret!);
    const tesseraChains = async () => {
      const out: string[] = [];
      for (let i = 0; i < CHAINS; i++) out.push((await signIn(issuer, config, user, { scope: `openid offline_access ${viewerScopes}` })).tokens.refresh_token!);
      return out;
    };

    for (const [index, mode] of MODES.entries()) {
      if (index > 0) {
        await stopChild(tessera);
        tessera = await startTesseraProcess(mode, tesseraEnv, { onLine: quiet, nodeArgs: NODE_ARGS.tessera });
      }
      // Two warm-up runs per server: with one, whichever mode went first read 0.2 lower than the same
      // mode measured second (fresh processes still compiling), an order effect, not a mode cost.
      console.log(`\nmode ${mode}: warming up ...`);
      for (let i = 0; i < WARMUPS; i++) {
        await wrk(`${issuer}/token`, ccScript(issuer));
        await wrk(baselineUrl, ccScript(baseline.info.issuer));
      }
      // Keyed by position too, so a repeated mode (BENCH_MODES=all,all, to look for order effects) keeps both.
      const key = `${index + 1}:${mode}`;
      results[key] = {} as (typeof results)[string];
      for (const c of CASES) {
        const figures = { tessera: [] as WrkFigures[], baseline: [] as WrkFigures[] };
        // Every round's refresh chains are made before the case's first round, as the baseline's are made at its
        // start: sign-ins (Argon2, interactions) right before a round were measured as part of it (CPU) and left
        // their garbage to it. Made after the client-credentials rounds, which therefore run on a process that has
        // served no sign-in yet, as before.
        const tesseraPools = c === 'refresh' ? await Promise.all(Array.from({ length: ROUNDS }, () => tesseraChains())) : [];
        for (let r = 0; r < ROUNDS; r++) {
          // Alternate which server goes first, so drift within a round can't favour one.
          const order = r % 2 === 0 ? (['tessera', 'baseline'] as const) : (['baseline', 'tessera'] as const);
          for (const who of order) {
            const url = who === 'tessera' ? `${issuer}/token` : baselineUrl;
            const pid = who === 'tessera' ? tessera.pid! : baseline.child.pid!;
            const cpuBefore = cpuSecondsOf(pid);
            const f =
              c === 'cc'
                ? await wrk(url, ccScript(who === 'tessera' ? issuer : baseline.info.issuer))
                : await wrk(url, refreshScript, [pool(`${who}-${mode}-${r}`, who === 'tessera' ? tesseraPools[r]! : baselinePool.splice(0, CHAINS))]);
            figures[who].push({ ...f, cpuPerRequest: (cpuSecondsOf(pid) - cpuBefore) / f.requests });
          }
        }
        const ratio = median(figures.tessera.map((t, i) => t.rps / figures.baseline[i]!.rps));
        const cpuRatio = median(figures.tessera.map((t, i) => figures.baseline[i]!.cpuPerRequest! / t.cpuPerRequest!));
        results[key]![c] = { ...figures, ratio, cpuRatio, target: TARGETS[c] };
      }
    }
    await stopChild(tessera);
    await stopChild(baseline.child);

    const f = (n: number, d = 0) => n.toFixed(d);
    console.log(`\nwrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} alternating rounds per case; req/s and ms are medians of the rounds; ratio = median of the per-round ratios; cpu = the same for server CPU time per request (baseline / Tessera), which a busy neighbour on the VM moves far less`);
    console.log(`${'mode'.padEnd(7)}${'case'.padEnd(22)}${'tessera req/s'.padStart(14)}${'p50'.padStart(7)}${'p99'.padStart(7)} |${'baseline req/s'.padStart(15)}${'p50'.padStart(7)}${'p99'.padStart(7)} |${'ratio'.padStart(7)}  rounds        target  errors${'cpu'.padStart(7)}`);
    for (const key of Object.keys(results)) {
      const mode = key.split(':')[1]!;
      for (const c of CASES) {
        const r = results[key]![c];
        const med = (who: 'tessera' | 'baseline', k: 'rps' | 'p50' | 'p99') => median(r[who].map((x) => x[k]));
        const perRound = r.tessera.map((t, i) => (t.rps / r.baseline[i]!.rps).toFixed(2)).join('/');
        const errors = [...r.tessera, ...r.baseline].reduce((a, x) => a + x.errors, 0);
        console.log(
          `${mode.padEnd(7)}${(c === 'cc' ? 'client_credentials' : 'refresh_token').padEnd(22)}${f(med('tessera', 'rps')).padStart(14)}${f(med('tessera', 'p50'), 1).padStart(7)}${f(med('tessera', 'p99'), 1).padStart(7)} |` +
            `${f(med('baseline', 'rps')).padStart(15)}${f(med('baseline', 'p50'), 1).padStart(7)}${f(med('baseline', 'p99'), 1).padStart(7)} |${f(r.ratio, 2).padStart(7)}  ${perRound.padEnd(14)}>= ${r.target} ${r.ratio >= r.target ? 'PASS' : 'FAIL'}  ${String(errors).padEnd(6)}${f(r.cpuRatio, 2).padStart(7)}`,
        );
      }
    }
    const out = join(HERE, 'results', 'token.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, results }, null, 2)}\n`);
    console.log(`\nwritten ${out}`);
  } finally {
    killChildren();
    rmSync(work, { recursive: true, force: true });
    await Promise.all([deletePrefix(redis, tesseraPrefix), deletePrefix(redis, baselinePrefix)]).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  killChildren();
  process.exit(1);
});
