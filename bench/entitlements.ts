/**
 * Entitlement benchmark (issue 3): refresh-token issuance for a user who
 * reaches 100 groups nested 5 deep in a tenant with 500 custom roles, against
 * the same grant for a user with one direct role, on the same Tessera, in the
 * same run. Also times the cold path: the first issuance after a tenant
 * change, when the graph and the subject's links are reloaded from Postgres.
 *
 *   npm run bench:entitlements      (target: deep/flat throughput >= 0.8)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ALL_CAPABILITY_IDS, CAPABILITY_BY_ID } from '../src/catalogue/index.ts';
import { discover, REDIRECT_URI, signIn } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, CONCURRENCY, DATABASE_URL, deletePrefix, killChildren, measureAlternating, post, recreateDatabase, REDIS_URL, startChild, stopChild, type Target } from './lib/harness.ts';
import { CHAINS, DEPTH, ROLES } from './lib/seedEntitlements.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGET = 0.8;

interface Info {
  issuer: string;
  tenantId: string;
  admin: { id: string; secret: string };
  web: { id: string; secret: string };
  user: { id: string; email: string; password: string };
  deepUser: { id: string; email: string; password: string };
}

async function main() {
  const prefix = `bench-e-${randomBytes(4).toString('hex')}:`;
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  const agents = new Set<Agent>();
  try {
    const port = await freePort();
    const { child, info } = await startChild<Info>(join(HERE, 'tesseraServer.ts'), {
      BENCH_SCENARIO: 'entitlements',
      BENCH_PORT: String(port),
      BENCH_DATABASE_URL: DATABASE_URL,
      BENCH_REDIS_URL: REDIS_URL,
      BENCH_REDIS_PREFIX: prefix,
      BENCH_REDIRECT_URI: REDIRECT_URI,
      BENCH_CC_CLIENT_ID: `bench-automation-${randomBytes(3).toString('hex')}`,
      BENCH_CC_CLIENT_SECRET: randomBytes(32).toString('base64url'),
    });
    // Both users ask for every grantable capability, so scope computation does the full intersection.
    const scope = `openid offline_access ${ALL_CAPABILITY_IDS.filter((c) => !CAPABILITY_BY_ID.get(c)!.reserved).join(' ')}`;
    const web = await discover(info.issuer, info.web.id, info.web.secret);
    const chains: Record<'deep' | 'flat', string[]> = { deep: [], flat: [] };
    for (let i = 0; i < CONCURRENCY; i++) {
      chains.deep.push((await signIn(info.issuer, web, info.deepUser, { scope })).tokens.refresh_token!);
      chains.flat.push((await signIn(info.issuer, web, info.user, { scope })).tokens.refresh_token!);
    }
    const target = (who: 'deep' | 'flat'): Target => ({
      port,
      authorization: basic(info.web.id, info.web.secret),
      body: (w) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: chains[who][w]! }).toString(),
      onResponse: (w, json) => void (chains[who][w] = String(json.refresh_token)),
    });
    const targets = { deep: target('deep'), flat: target('flat') };

    // What each token carries, and the cold path: first refresh after a tenant change reloads from Postgres.
    const cold: Record<string, number[]> = { deep: [], flat: [] };
    const scopes: Record<string, number> = {};
    for (const who of ['deep', 'flat'] as const) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 10; i++) {
        await redis.set(`${prefix}tenant:${info.tenantId}:version`, randomBytes(8).toString('hex'));
        const t0 = performance.now();
        const res = await post(agent, targets[who], targets[who].body(0));
        cold[who]!.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`${who}: ${res.status} ${res.text}`);
        const json = JSON.parse(res.text) as { scope: string };
        targets[who].onResponse!(0, json);
        scopes[who] = json.scope.split(' ').filter((s) => s.includes(':')).length;
      }
      agent.destroy();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    const figures = await measureAlternating(targets, 'refresh', agents);
    const ratio = figures.deep.rps / figures.flat.rps;
    const f = (n: number, d = 0) => n.toFixed(d);
    console.log('');
    console.log(`tenant: ${ROLES} custom roles; deep user reaches ${CHAINS * DEPTH} groups (${CHAINS} chains x ${DEPTH} levels), flat user has 1 direct role`);
    console.log(`capability scopes in the token: deep ${scopes.deep}, flat ${scopes.flat}`);
    console.log(`cold issuance after a tenant change (median of 10): deep ${f(median(cold.deep!), 1)} ms, flat ${f(median(cold.flat!), 1)} ms`);
    console.log(`${'user'.padEnd(8)}${'req/s'.padStart(8)}${'p50'.padStart(8)}${'p99'.padStart(8)}`);
    for (const who of ['deep', 'flat'] as const) console.log(`${who.padEnd(8)}${f(figures[who].rps).padStart(8)}${f(figures[who].p50, 2).padStart(8)}${f(figures[who].p99, 2).padStart(8)}`);
    console.log(`ratio deep/flat: ${f(ratio, 2)}  (target >= ${TARGET}) ${ratio >= TARGET ? 'PASS' : 'FAIL'}`);
    for (const who of ['deep', 'flat'] as const) if (figures[who].errors) console.log(`  ${who}: ${figures[who].errors} errors, first: ${figures[who].firstError}`);

    const out = join(HERE, 'results', 'entitlements.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), figures, ratio, scopes, coldMs: { deep: median(cold.deep!), flat: median(cold.flat!) } }, null, 2)}\n`);
    await stopChild(child);
  } finally {
    for (const agent of agents) agent.destroy();
    killChildren();
    await deletePrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  killChildren();
  process.exit(1);
});
