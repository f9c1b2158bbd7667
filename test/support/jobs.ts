import { startJobWorkers } from '../../src/app/workers.ts';
import type { AdminApi } from './api.ts';
import { readSse } from './sse.ts';
import type { TestTessera } from './tessera.ts';

export interface JobEvent {
  event: string;
  data: { status: string; progress: { done: number; total: number }; result: unknown };
}

/** Reads a job's progress stream (SSE) until it ends or `ms` pass; returns every event in order. */
export async function followJob(t: TestTessera, api: AdminApi, jobId: string, ms = 20_000): Promise<JobEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const res = await fetch(`${t.issuer}/api/v1/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${api.token}` },
    signal: abort.signal,
  });
  if (res.status !== 200) throw new Error(`job stream answered ${res.status}`);
  const events: JobEvent[] = [];
  try {
    await readSse(res.body!, (e) => events.push({ event: e.event!, data: JSON.parse(e.data) }));
  } finally {
    clearTimeout(timer);
  }
  return events;
}

/** Runs the job workers in this process until job `id` has finished, then stops them; answers the job as the API shows it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the job body is whatever the API returns
export async function runJob(t: TestTessera, api: AdminApi, id: string): Promise<any> {
  const workers = startJobWorkers(t.server.core);
  try {
    const deadline = Date.now() + 25_000;
    for (;;) {
      const job = await api.get(`/jobs/${id}`);
      if (job.body.status === 'completed' || job.body.status === 'failed') return job.body;
      if (Date.now() > deadline) throw new Error(`job still ${job.body.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await workers.close();
  }
}
