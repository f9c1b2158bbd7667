import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobWorkers } from '../../src/app/workers.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { startRedis, waitFor, type TestRedis } from '../support/redisServer.ts';
import { followJob } from '../support/jobs.ts';

let redis: TestRedis;
let t: TestTessera;
let owner: AdminApi;

beforeAll(async () => {
  redis = await startRedis();
  t = await startTessera({ REDIS_URL: redis.url });
  owner = await ownerApi(t);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await redis?.close();
});

describe('queue Redis down (CHECKLIST faults 4)', () => {
  it('a bulk POST fails fast with 503 and loses nothing; workers resume once Redis is back', async () => {
    const users: string[] = [];
    for (let i = 0; i < 5; i++) users.push((await owner.post('/users', { email: `queue-${i}@example.test` })).body.id);
    const workers = startJobWorkers(t.server.core);
    try {
      await redis.stop(true);
      const started = Date.now();
      const refused = await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users });
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('temporarily_unavailable');

      await redis.start();
      await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 200, 15_000);
      const accepted = await owner.post('/bulk/role-assignments', { role: 'viewer', action: 'add', users });
      expect(accepted.status).toBe(202);
      // The same workers (never restarted) pick the job up once they have reconnected; the progress stream ends with it.
      const events = await followJob(t, owner, accepted.body.id, 30_000);
      const last = events.at(-1)!;
      expect(last.event).toBe('done');
      expect(last.data).toMatchObject({ status: 'completed', progress: { done: 5, total: 5 } });
      expect((await owner.get(`/users/${users[0]}/roles`)).body.direct.map((r: { slug: string }) => r.slug)).toEqual(['viewer']);
      // The refused request left nothing behind: one job row, the accepted one.
      const jobs = (await t.server.core.db.execute(sql`select id from jobs where tenant_id = ${t.tenantId}`)) as unknown as { rows: { id: string }[] };
      expect(jobs.rows.map((r) => r.id)).toEqual([accepted.body.id]);
    } finally {
      await workers.close();
    }
  }, 60_000);
});
