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
import { CAPABILITIES, closeUnderRequires } from '../src/catalogue/index.ts';
import { rows } from '../src/db/client.ts';
import { createServer, type Server_ } from '../src/app/index.ts';
import { createLogger } from '../src/log/index.ts';
import { Browser, parseForm } from '../test/support/browser.ts';
import { freePort } from '../test/support/tessera.ts';
import { benchConfig, DB_NAME, percentile, recreateDatabase } from './lib/harness.ts';

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
    const grantable = CAPABILITIES.filter((c) => !c.reserved).map((c) => c.id);
    for (let i = 0; i < ROLES; i++) {
      const caps = closeUnderRequires([grantable[i % grantable.length]!, grantable[(i * 7) % grantable.length]!]);
      await q(sql`insert into roles (id, tenant_id, slug, name, type, capabilities) values (gen_random_uuid(), ${tenantId}, ${`bench-role-${i}`}, ${`Bench role ${i}`}, 'custom', ${`{${caps.join(',')}}`}::text[])`);
    }
    await q(sql`insert into users (id, tenant_id, email, email_key, display_name)
      select gen_random_uuid(), ${tenantId}, 'u' || i || '@console.bench', 'u' || i || '@console.bench', 'User ' || i from generate_series(1, ${USERS}) i`);
    await q(sql`insert into groups (id, tenant_id, name) select gen_random_uuid(), ${tenantId}, 'Group ' || i from generate_series(1, ${GROUPS}) i`);
    // Chains of five: Group 5k+1 ⊃ 5k+2 ⊃ … ⊃ 5k+5.
    await q(sql`insert into group_edges (tenant_id, parent_id, child_id)
      select ${tenantId}, p.id, c.id from groups p join groups c on c.tenant_id = p.tenant_id
      and substring(c.name from 7)::int = substring(p.name from 7)::int + 1 and substring(p.name from 7)::int % 5 <> 0
      where p.tenant_id = ${tenantId}`);
    // Every user in one group (the deepest of some chain gets the most), every group one role, every tenth user a direct role.
    await q(sql`with u as (select id, row_number() over (order by created_at, id) n from users where tenant_id = ${tenantId}),
      g as (select id, substring(name from 7)::int n from groups where tenant_id = ${tenantId})
      insert into group_members (tenant_id, group_id, user_id) select ${tenantId}, g.id, u.id from u join g on g.n = (u.n % ${GROUPS}) + 1`);
    await q(sql`with r as (select id, row_number() over (order by slug) n from roles where tenant_id = ${tenantId} and type = 'custom'),
      g as (select id, substring(name from 7)::int n from groups where tenant_id = ${tenantId})
      insert into group_roles (tenant_id, group_id, role_id) select ${tenantId}, g.id, r.id from g join r on r.n = (g.n % ${ROLES}) + 1`);
    await q(sql`with u as (select id, row_number() over (order by created_at, id) n from users where tenant_id = ${tenantId}),
      r as (select id, row_number() over (order by slug) n from roles where tenant_id = ${tenantId} and type = 'custom')
      insert into user_roles (tenant_id, user_id, role_id) select ${tenantId}, u.id, r.id from u join r on r.n = (u.n % ${ROLES}) + 1 where u.n % 10 = 0`);
    await q(sql`analyze`);
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
