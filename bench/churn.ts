/**
 * Issuance under admin churn (issue 14): client-credentials and refresh
 * throughput in a tenant with 100,000 users, 5,000 groups (chains five deep)
 * and 500 roles, quiet and while admin changes run at 20/s through the admin
 * API (a mix of group membership adds and removes and role assignments and
 * unassignments of random users). Quiet and churn rounds alternate in one run.
 *
 *   npm run bench:churn     (target: churn >= 0.8x the same tenant's quiet throughput, both grants)
 *
 * Tessera runs as `npm run serve` runs it (own process, default log level) on
 * the bench's Postgres database; wrk drives the token endpoint; this process
 * sends the admin changes. A change to one user's links bumps only that user's
 * version (services/change.ts), so other subjects' cached entitlements stay;
 * the entitlement cache counters from /metrics show how many issuances missed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { openDatabase, rows } from '../src/db/client.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, DATABASE_URL, DB_NAME, killChildren, recreateDatabase, startTesseraProcess, stopChild, tesseraProcessEnv } from './lib/harness.ts';
import { seedDirectory } from './lib/seedDirectory.ts';
import { CC_LUA, median, REFRESH_LUA, requireWrk, wrk, WRK_DEFAULTS, type WrkFigures } from './lib/wrk.ts';

const USERS = Number(process.env.BENCH_CHURN_USERS ?? 100_000);
const GROUPS = 5_000;
const ROLES = 500;
const CHANGES_PER_SECOND = Number(process.env.BENCH_CHURN_RATE ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 0.8;
const CC_SCOPE = 'users:view audit:read';
const CHAINS = WRK_DEFAULTS.connections * 3;

/** Entitlement cache hits and misses so far, from the private metrics listener. */
async function cacheCounters(metricsPort: number): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const read = (result: string) => Number(new RegExp(`^tessera_entitlement_cache_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: read('hit'), miss: read('miss') };
}

async function main() {
  requireWrk();
  delete process.env.NODE_ENV;
  delete process.env.LOG_LEVEL;
  const runId = randomBytes(4).toString('hex');
  const slug = `bench-${runId}`;
  const ccClientId = `bench-churn-${runId}`;
  const ccSecret = randomBytes(32).toString('base64url');
  const work = mkdtempSync(join(tmpdir(), 'tessera-bench-churn-'));
  await recreateDatabase();
  const port = await freePort();
  const metricsPort = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const tessera = await startTesseraProcess(
    'serve',
    tesseraProcessEnv({
      port,
      prefix: `bench-ch-${runId}:`,
      slug,
      clientId: ccClientId,
      secret: ccSecret,
      // The bench signs one user in many times to make refresh chains.
      extra: { TESSERA_METRICS_PORT: String(metricsPort), TESSERA_LOGIN_MAX_PER_ACCOUNT: '100000', TESSERA_LOGIN_MAX_PER_IP: '100000' },
    }),
    { onLine: () => undefined },
  );
  const dbh = await openDatabase({ databaseUrl: DATABASE_URL, dataDir: '' });
  try {
    const adminToken = async () =>
      ((await (await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: basic(ccClientId, ccSecret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })).json()) as { access_token: string }).access_token;
    let token = await adminToken();
    const tenantId = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { tid: string }).tid;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${issuer}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const json = (await res.json().catch(() => ({}))) as Record<string, string>;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };

    console.log(`seeding ${USERS} users, ${GROUPS} groups (chains 5 deep), ${ROLES} roles into ${DB_NAME} ...`);
    await seedDirectory(dbh.db, tenantId, { users: USERS, groups: GROUPS, roles: ROLES, emailDomain: 'churn.bench' });
    // Written behind Tessera's back: one admin change through the API makes every process reload the tenant.
    await api('POST', '/roles', { name: 'Churn marker', capabilities: ['reports:view'] });
    const web = await api('POST', '/applications', { name: 'Bench web', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const viewerScopes = SYSTEM_ROLES.find((r) => r.slug === 'viewer')!.capabilities.join(' ');
    const user = { email: `bench@${slug}.test`, password: `bench password ${randomBytes(6).toString('hex')}` };
    const userRow = await api('POST', '/users', { ...user, display_name: 'Bench' });
    await api('PUT', `/users/${userRow.id}/roles/viewer`, {});

    // What the churn touches: random seeded users, groups and custom roles.
    const userIds = (await rows<{ id: string }>(dbh.db, sql`select id from users where tenant_id = ${tenantId} and email like '%@churn.bench' order by random() limit 5000`)).map((r) => r.id);
    const groupIds = (await rows<{ id: string }>(dbh.db, sql`select id from groups where tenant_id = ${tenantId} order by random() limit 500`)).map((r) => r.id);
    const roleSlugs = (await rows<{ slug: string }>(dbh.db, sql`select slug from roles where tenant_id = ${tenantId} and slug like 'bench-role-%' order by random() limit 100`)).map((r) => r.slug);
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;

    /** Sends admin changes at the given rate until stopped; one at a time, each started on its tick. */
    function startChurn() {
      let stopped = false;
      let done = 0;
      let errors = 0;
      let undo: (() => Promise<unknown>) | undefined;
      const started = performance.now();
      const loop = (async () => {
        for (let i = 0; !stopped; i++) {
          const due = started + (i * 1000) / CHANGES_PER_SECOND;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (stopped) break;
          try {
            // Every other change undoes the one before it, so the tenant stays the same size:
            // half are group memberships (add, then remove), half direct roles (assign, then unassign).
            if (undo) {
              const u = undo;
              undo = undefined;
              await u();
            } else if (i % 4 === 0) {
              const [userId, groupId] = [pick(userIds), pick(groupIds)];
              await api('POST', `/groups/${groupId}/members`, { users: [userId] });
              undo = () => api('DELETE', `/groups/${groupId}/members/${userId}`);
            } else {
              const [userId, role] = [pick(userIds), pick(roleSlugs)];
              await api('PUT', `/users/${userId}/roles/${role}`, {});
              undo = () => api('DELETE', `/users/${userId}/roles/${role}`);
            }
            done++;
          } catch (err) {
            errors++;
            if (String(err).includes(': 401')) token = await adminToken();
          }
        }
      })();
      return async () => {
        stopped = true;
        await loop;
        const seconds = (performance.now() - started) / 1000;
        return { rate: done / seconds, errors };
      };
    }

    const ccScript = join(work, 'cc.lua');
    writeFileSync(ccScript, CC_LUA(basic(ccClientId, ccSecret), new URLSearchParams({ grant_type: 'client_credentials', scope: CC_SCOPE, resource: `${issuer}/api` }).toString()));
    const refreshScript = join(work, 'refresh.lua');
    writeFileSync(refreshScript, REFRESH_LUA(basic(web.id!, web.client_secret!)));
    const config = await discover(issuer, web.id!, web.client_secret!);
    const chains = async (name: string) => {
      const out: string[] = [];
      for (let i = 0; i < CHAINS; i++) out.push((await signIn(issuer, config, user, { scope: `openid offline_access ${viewerScopes}` })).tokens.refresh_token!);
      const file = join(work, `${name}.txt`);
      writeFileSync(file, `${out.join('\n')}\n`);
      return file;
    };
    const run = (c: 'cc' | 'refresh', name: string) => (c === 'cc' ? wrk(`${issuer}/token`, ccScript) : chains(name).then((file) => wrk(`${issuer}/token`, refreshScript, [file])));

    console.log('warming up ...');
    await run('cc', 'warm-cc');
    await run('refresh', 'warm-refresh');

    type Round = { quiet: WrkFigures; churn: WrkFigures; rate: number; changeErrors: number; hit: number; miss: number };
    const results: Record<'cc' | 'refresh', Round[]> = { cc: [], refresh: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of ['cc', 'refresh'] as const) {
        let quiet: WrkFigures | undefined;
        let churn: WrkFigures | undefined;
        let during = { rate: 0, errors: 0 };
        let counters = { hit: 0, miss: 0 };
        // Alternate which goes first, so drift within a round can't favour one.
        for (const phase of r % 2 === 0 ? (['quiet', 'churn'] as const) : (['churn', 'quiet'] as const)) {
          if (phase === 'quiet') {
            quiet = await run(c, `quiet-${c}-${r}`);
            continue;
          }
          const file = c === 'refresh' ? await chains(`churn-${c}-${r}`) : undefined;
          const before = await cacheCounters(metricsPort);
          const stop = startChurn();
          churn = c === 'cc' ? await wrk(`${issuer}/token`, ccScript) : await wrk(`${issuer}/token`, refreshScript, [file!]);
          during = await stop();
          const after = await cacheCounters(metricsPort);
          counters = { hit: after.hit - before.hit, miss: after.miss - before.miss };
        }
        results[c].push({ quiet: quiet!, churn: churn!, rate: during.rate, changeErrors: during.errors, ...counters });
      }
    }

    console.log(`\n${USERS} users, ${GROUPS} groups, ${ROLES} roles; wrk -t1 -c${WRK_DEFAULTS.connections} -d${WRK_DEFAULTS.seconds}s; ${ROUNDS} rounds, quiet and churn alternating; medians of the rounds`);
    console.log(`${'grant'.padEnd(20)}${'quiet req/s'.padStart(12)}${'churn req/s'.padStart(12)}${'p99 q/c ms'.padStart(14)}${'changes/s'.padStart(11)}${'cache miss'.padStart(12)}${'ratio'.padStart(8)}  rounds            target`);
    let pass = true;
    for (const c of ['cc', 'refresh'] as const) {
      const rs = results[c];
      const ratios = rs.map((x) => x.churn.rps / x.quiet.rps);
      const ratio = median(ratios);
      const misses = rs.reduce((a, x) => a + x.miss, 0);
      const lookups = rs.reduce((a, x) => a + x.hit + x.miss, 0);
      const errors = rs.reduce((a, x) => a + x.quiet.errors + x.churn.errors + x.changeErrors, 0);
      const ok = ratio >= TARGET && errors === 0;
      pass &&= ok;
      console.log(
        `${(c === 'cc' ? 'client_credentials' : 'refresh_token').padEnd(20)}${median(rs.map((x) => x.quiet.rps)).toFixed(0).padStart(12)}${median(rs.map((x) => x.churn.rps)).toFixed(0).padStart(12)}` +
          `${`${median(rs.map((x) => x.quiet.p99)).toFixed(1)}/${median(rs.map((x) => x.churn.p99)).toFixed(1)}`.padStart(14)}${median(rs.map((x) => x.rate)).toFixed(1).padStart(11)}` +
          `${`${((100 * misses) / Math.max(1, lookups)).toFixed(2)}%`.padStart(12)}${ratio.toFixed(2).padStart(8)}  ${ratios.map((x) => x.toFixed(2)).join('/').padEnd(18)}>= ${TARGET} ${ok ? 'ok' : 'FAIL'}${errors ? ` (${errors} errors)` : ''}`,
      );
    }
    console.log(`\ntarget: issuance under ${CHANGES_PER_SECOND} admin changes/s >= ${TARGET}x quiet: ${pass ? 'met' : 'not met'}`);
  } finally {
    await dbh.close();
    await stopChild(tessera);
    killChildren();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
