import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobWorkers } from '../../src/app/workers.ts';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import type { RunningWorkers } from '../../src/jobs/workers/index.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let workers: RunningWorkers;

beforeAll(async () => {
  t = await startTessera();
  workers = startJobWorkers(t.server.core, { registry: t.server.registry });
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${t.issuer}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample, or undefined when the line is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('job metrics at /metrics (SPEC §12)', () => {
  it('reports every queue by state', async () => {
    const text = await scrape();
    for (const queue of Object.values(QUEUE_NAMES)) {
      for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed']) expect(sample(text, 'tessera_jobs', { queue, state }), `${queue} ${state}`).toBeTypeOf('number');
    }
    expect(text).toContain('# TYPE tessera_backing_errors_total counter');
  });

  it('a completed job moves the counts', async () => {
    const queue = QUEUE_NAMES.expiry;
    const before = await scrape();
    const completedBefore = sample(before, 'tessera_jobs', { queue, state: 'completed' })!;
    const counterBefore = sample(before, 'tessera_jobs_completed_total', { queue }) ?? 0;
    // An expiry for an assignment that doesn't exist: the job completes and changes nothing.
    const jobId = `metrics-${randomUUID()}`;
    await t.server.core.producers.add(
      queue,
      { kind: 'assignment', tenantId: t.tenantId, subject: 'user', subjectId: randomUUID(), roleId: randomUUID(), expiresAt: new Date(Date.now() - 1_000).toISOString() },
      { jobId },
    );
    // The gauge reads Redis, the counter follows the worker's event a moment later: wait for the job and for both.
    const until = Date.now() + 5_000;
    let after = await scrape();
    const settled = async () =>
      (await t.server.core.producers.queue(queue).getJobState(jobId)) === 'completed' &&
      sample(after, 'tessera_jobs', { queue, state: 'completed' })! > completedBefore &&
      (sample(after, 'tessera_jobs_completed_total', { queue }) ?? 0) > counterBefore;
    while (!(await settled()) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      after = await scrape();
    }
    expect(await t.server.core.producers.queue(queue).getJobState(jobId)).toBe('completed');
    expect(sample(after, 'tessera_jobs', { queue, state: 'completed' })).toBeGreaterThan(completedBefore);
    expect(sample(after, 'tessera_jobs_completed_total', { queue })).toBeGreaterThan(counterBefore);
  });
});
