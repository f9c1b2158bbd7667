import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { spawnTessera } from '../support/process.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { REDIS_URL, startTessera, type TestTessera } from '../support/tessera.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- rows are whatever the database returns */
let t: TestTessera;
let owner: AdminApi;
const workers = new Set<ChildProcess>();
const USERS = 20_000;
// A short lock, so a killed worker's job is retried within seconds instead of 30 s.
const LOCK_MS = '3000';

const q = async <T = any>(query: ReturnType<typeof sql>): Promise<T[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: T[] }).rows;

/** `node --import tsx src/main.ts worker` against the test server's database and Redis prefix. */
async function spawnWorker(): Promise<ChildProcess> {
  const { child } = await spawnTessera(
    {
      DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: t.server.core.config.TESSERA_REDIS_PREFIX,
      TESSERA_JOB_LOCK_MS: LOCK_MS,
    },
    'worker',
  );
  workers.add(child);
  return child;
}

async function seedUsers(n: number): Promise<string[]> {
  const tag = randomBytes(4).toString('hex');
  const res = await q<{ id: string }>(sql`insert into users (id, tenant_id, email, email_key, display_name)
    select gen_random_uuid(), ${t.tenantId}, ${tag} || '-' || i || '@crash.test', ${tag} || '-' || i || '@crash.test', 'Crash ' || i from generate_series(1, ${n}) i returning id`);
  return res.map((r) => r.id);
}

const jobRow = async (id: string) => (await q<{ status: string; progress_done: number; progress_total: number; result: any }>(sql`select status, progress_done, progress_total, result from jobs where id = ${id}`))[0]!;

async function waitFinished(id: string, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const row = await jobRow(id);
    if (row.status === 'completed' || row.status === 'failed') return row;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${row.status} at ${row.progress_done}/${row.progress_total}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const children = (jobId: string) => q<{ target_id: string; action: string }>(sql`select target_id, action from audit_events where parent_id = ${jobId}`);
const parents = (jobId: string) => q(sql`select 1 from audit_events where id = ${jobId}`);

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
});
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await t?.close();
});

it('a worker SIGKILLed mid-job leaves, after the retry, exactly the state and events of a clean run (SPEC §9)', { timeout: 90_000 }, async () => {
  await owner.post('/roles', { name: 'Crash role', capabilities: ['reports:view'] });
  const [crashed, clean] = [await seedUsers(USERS), await seedUsers(USERS)];

  const first = await spawnWorker();
  const res = await owner.post('/bulk/role-assignments', { role: 'crash-role', action: 'add', users: crashed });
  expect(res.status).toBe(202);
  const jobId: string = res.body.id;
  // Kill as soon as some batches (but not all) have committed.
  for (;;) {
    const row = await jobRow(jobId);
    if (row.progress_done > 0 && row.progress_done < USERS) break;
    if (row.status === 'completed') throw new Error('the job finished before the worker could be killed');
    await new Promise((r) => setTimeout(r, 5));
  }
  const exited = new Promise((r) => first.once('exit', r));
  first.kill('SIGKILL');
  await exited;

  // What is committed is consistent: every checkpointed user has its assignment and exactly one child event.
  const atCrash = await jobRow(jobId);
  expect(atCrash.progress_done).toBeGreaterThan(0);
  expect(atCrash.progress_done).toBeLessThan(USERS);
  expect(await children(jobId)).toHaveLength(atCrash.progress_done);
  expect((await q(sql`select 1 from user_roles ur join roles r on r.id = ur.role_id where r.tenant_id = ${t.tenantId} and r.slug = 'crash-role'`)).length).toBe(atCrash.progress_done);

  await spawnWorker();
  const done = await waitFinished(jobId, 40_000);
  const cleanRes = await owner.post('/bulk/role-assignments', { role: 'crash-role', action: 'add', users: clean });
  const cleanDone = await waitFinished(cleanRes.body.id, 30_000);

  for (const [row, id, users] of [
    [done, jobId, crashed],
    [cleanDone, cleanRes.body.id as string, clean],
  ] as const) {
    expect(row).toMatchObject({ status: 'completed', progress_done: USERS, result: { changed: USERS, unchanged: 0, failed_count: 0 } });
    const events = await children(id);
    expect(events).toHaveLength(USERS);
    expect(new Set(events.map((e) => e.target_id))).toEqual(new Set(users));
    expect(events.every((e) => e.action === 'role.assigned')).toBe(true);
    expect(await parents(id)).toHaveLength(1);
  }
  const assigned = new Set(
    (await q<{ user_id: string }>(sql`select ur.user_id from user_roles ur join roles r on r.id = ur.role_id where r.tenant_id = ${t.tenantId} and r.slug = 'crash-role'`)).map((r) => r.user_id),
  );
  expect(assigned).toEqual(new Set([...crashed, ...clean]));
  expect(await t.server.core.audit.verifyChain(t.server.core.db, t.tenantId)).toMatchObject({ ok: true });
});

it('a worker sent SIGTERM mid-job finishes the job before it exits (graceful shutdown)', { timeout: 90_000 }, async () => {
  // Only this worker may take the job: stop the ones earlier tests left running.
  await Promise.all(
    [...workers].filter((w) => w.exitCode === null && w.signalCode === null).map((w) => new Promise((resolve) => (w.once('exit', resolve), w.kill('SIGKILL')))),
  );
  await owner.post('/roles', { name: 'Drain role', capabilities: ['reports:view'] });
  const users = await seedUsers(USERS);
  const worker = await spawnWorker();
  const res = await owner.post('/bulk/role-assignments', { role: 'drain-role', action: 'add', users });
  expect(res.status).toBe(202);
  const jobId: string = res.body.id;
  for (;;) {
    const row = await jobRow(jobId);
    if (row.progress_done > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
  worker.kill('SIGTERM');
  // The process waits for the active job, so by the time it exits the job is done; no other worker runs.
  expect(await exited).toBe(0);
  const row = await jobRow(jobId);
  expect(row.status).toBe('completed');
  expect(row.progress_done).toBe(USERS);
  expect((await children(jobId)).length).toBe(USERS);
});
