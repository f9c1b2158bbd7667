import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobWorkers } from '../../src/app/workers.ts';
import { requeueLostJobs } from '../../src/jobs/watchdog.ts';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { waitFor } from '../support/redisServer.ts';

let t: TestTessera;
let owner: AdminApi;

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
});
afterAll(() => t?.close());

describe('jobs whose queue entry Redis lost', () => {
  it('are queued again by the maintenance sweep and then complete', async () => {
    const users: string[] = [];
    for (let i = 0; i < 3; i++) users.push((await owner.post('/users', { email: `lost-${i}@example.test` })).body.id);
    const submitted = await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users });
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;

    // Redis loses the queue entry (flush, failover) while Postgres still says "queued".
    const queue = t.server.core.producers.queue(QUEUE_NAMES.bulkRoles);
    await queue.remove(id);
    expect(await queue.getJob(id)).toBeUndefined();
    const deps = { db: t.server.core.db, producers: t.server.core.producers, logger: t.server.core.logger };
    // A fresh row is left alone: it may simply not have been picked up yet.
    expect((await requeueLostJobs(deps)).requeued).toBe(0);
    await t.server.core.db.execute(sql`update jobs set updated_at = now() - interval '10 minutes' where id = ${id}`);

    expect((await requeueLostJobs(deps)).requeued).toBe(1);
    expect(await queue.getJob(id)).toBeDefined();
    // Running it again doesn't duplicate the job.
    expect((await requeueLostJobs(deps)).requeued).toBe(0);

    const workers = startJobWorkers(t.server.core);
    try {
      await waitFor(async () => (await owner.get(`/jobs/${id}`)).body.status === 'completed', 20_000);
      expect((await owner.get(`/jobs/${id}`)).body.result).toMatchObject({ changed: 3 });
    } finally {
      await workers.close();
    }
  }, 40_000);
});
