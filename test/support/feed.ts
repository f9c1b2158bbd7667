import { readSse } from './sse.ts';

export interface FeedEvent {
  id: string;
  event: string;
  data: { sub: string; tid: string; revoked_at: number };
}

/** Opens the revocation feed over real HTTP and collects its events with a deliberately naive SSE reader. */
export async function followFeed(issuer: string, token: string, opts: { headers?: Record<string, string>; query?: string } = {}) {
  const abort = new AbortController();
  const res = await fetch(`${issuer}/api/v1/revocations/stream${opts.query ?? ''}`, {
    headers: { authorization: `Bearer ${token}`, ...opts.headers },
    signal: abort.signal,
  });
  const events: FeedEvent[] = [];
  if (res.ok) {
    readSse(res.body!, (e) => events.push({ id: e.id!, event: e.event!, data: JSON.parse(e.data) })).catch(() => undefined);
  }
  /** Waits for the `n`th event (1-based), failing after `ms`. */
  const nth = async (n: number, ms = 1_000): Promise<FeedEvent> => {
    const deadline = Date.now() + ms;
    while (events.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${events.length} of ${n} events after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return events[n - 1]!;
  };
  return { res, events, nth, close: () => abort.abort() };
}
