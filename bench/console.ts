/**
 * Console render time (issue 13): the users list (first page, a search, a
 * later page), a user's detail (roles through nested groups), the role editor
 * and the role list, in a tenant with 100,000 users, 5,000 groups and 500
 * roles, signed in as the Owner through the console's real sign-in. Each page
 * is fetched sequentially, so a figure is one request's time (HTTP over
 * loopback included, so it bounds the server's render time from above).
 *
 *   npm run bench:console      (target: p95 < 50 ms per page)
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { rows } from '../src/db/client.ts';
import { createServer, type Server_ } from '../src/app/index.ts';
import { createLogger } from '../src/log/index.ts';
import { Browser, parseForm } from '../test/support/browser.ts';
import { freePort } from '../test/support/tessera.ts';
import { benchConfig, DB_NAME, percentile, recreateDatabase } from './lib/harness.ts';
import { seedDirectory } from './lib/seedDirectory.ts';

const USERS = Number(process.env.BENCH_CONSOLE_USERS ?? 100_000);
const GROUPS = 5_000;
const ROLES = 500;
const SAMPLES = Number(process.env.BENCH_CONSOLE_SAMPLES ?? 60);
const TARGET_MS = 50;

async function main() {
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench-c-${runId}:`;
  const slug = `bench-${runId}`;
  await recreateDatabase();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = benchConfig({ port, prefix, slug, clientId: `bench-console-${runId}`, secret: randomBytes(32).toString('base64url') });
  let server: Server_ | undefined;
  try {
    server = await createServer(config, { logger: createLogger(config.LOG_LEVEL), printBootstrap: () => undefined });
    await server.listen(port, '127.0.0.1');
    const { db } = server.core;
    const tenantId = server.bootstrap!.tenant.id;
    const q = <T>(query: ReturnType<typeof sql>) => rows<T>(db, query);

    console.log(`seeding ${USERS} users, ${GROUPS} groups (chains 5 deep), ${ROLES} roles into ${DB_NAME} ...`);
    let t0 = performance.now();
    await seedDirectory(db, tenantId, { users: USERS, groups: GROUPS, roles: ROLES, emailDomain: 'console.bench' });
    await server.core.versions.bump(tenantId);
    console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Sign in to the console as the Owner, through the sign-in page.
    const browser = new Browser();
    const owner = { email: `owner@${slug}.test`, password: config.TESSERA_BOOTSTRAP_OWNER_PASSWORD! };
    let step = await browser.follow(`${issuer}/console/login?tenant=${slug}`, issuer);
    for (let i = 0; i < 4 && !step.url.startsWith(`${issuer}/console/users`); i++) {
      const form = parseForm(await step.res.text());
      const res = await browser.post(new URL(form.action, issuer).href, { ...form.fields, ...owner });
      step = await browser.follow(new URL(res.headers.get('location') ?? step.url, issuer).href, issuer);
    }
    if (!step.url.startsWith(`${issuer}/console/users`)) throw new Error(`console sign-in ended at ${step.url}`);

    const [deep] = await q<{ id: string }>(sql`select m.user_id as id from group_members m join groups g on g.id = m.group_id
      where g.tenant_id = ${tenantId} and g.name = 'Group 5' limit 1`);
    const firstPage = await (await browser.request(`${issuer}/console/users`)).text();
    const next = /name="go" value="([^"]+)"/.exec(firstPage)?.[1]?.replace(/&amp;/g, '&');
    const pages: Array<[string, string]> = [
      ['users list, first page', '/console/users'],
      ['users list, next page', next ?? '/console/users'],
      ['users list, search', '/console/users?q=u99999'],
      ['users list, role filter', '/console/users?role=bench-role-7'],
      ['user detail (5-deep group chain)', `/console/users/${deep!.id}`],
      ['role editor (new)', '/console/roles/new'],
      ['role list (500 roles, first page)', '/console/roles'],
      ['system roles (no tenant data: the per-request floor)', '/console/system-roles'],
      ['groups list', '/console/groups'],
    ];
    console.log(`\n${SAMPLES} sequential requests per page after 5 warm-up requests; target: p95 < ${TARGET_MS} ms\n`);
    console.log(`${"page".padEnd(54)}  p50 ms   p95 ms   max ms   bytes`);
    let worst = 0;
    for (const [label, path] of pages) {
      for (let i = 0; i < 5; i++) await (await browser.request(`${issuer}${path}`)).text();
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < SAMPLES; i++) {
        t0 = performance.now();
        const res = await browser.request(`${issuer}${path}`);
        const body = await res.text();
        times.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
        bytes = body.length;
      }
      times.sort((a, b) => a - b);
      const p95 = percentile(times, 95);
      worst = Math.max(worst, p95);
      console.log(`${label.padEnd(54)} ${percentile(times, 50).toFixed(1).padStart(7)} ${p95.toFixed(1).padStart(8)} ${times[times.length - 1]!.toFixed(1).padStart(8)} ${String(bytes).padStart(7)}`);
    }
    console.log(`\nworst p95 ${worst.toFixed(1)} ms (target < ${TARGET_MS} ms): ${worst < TARGET_MS ? 'meets' : 'misses'} the target`);
  } finally {
    await server?.close();
  }
}

await main();
process.exit(0);
