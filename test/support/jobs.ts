import type { AdminApi } from './api.ts';
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
  let buffer = '';
  try {
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        if (fields.data) events.push({ event: fields.event!, data: JSON.parse(fields.data) });
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}
