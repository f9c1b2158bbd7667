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
