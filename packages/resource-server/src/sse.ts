/** One dispatched Server-Sent Event. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Incremental parser for the text/event-stream format (WHATWG HTML §9.2.6):
 * feed it decoded text as it arrives, get back the events completed so far.
 * Hand-written because the feed needs an Authorization header, which the
 * browser EventSource API cannot send, and Node has no EventSource of its own.
 */
export class EventStreamParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  /** The last event id seen, kept across events as the spec requires; sent back as Last-Event-ID. */
  lastEventId: string | undefined;
  /** A `retry:` field from the server, in milliseconds. */
  retry: number | undefined;

  push(text: string): SseEvent[] {
    this.buffer += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (ch === '\r' && i === this.buffer.length - 1) break;
      const line = this.buffer.slice(start, i);
      if (ch === '\r' && this.buffer[i + 1] === '\n') i++;
      start = i + 1;
      const event = this.line(line);
      if (event) out.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.id !== undefined) this.lastEventId = this.id;
    const event = this.data.length ? { id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') } : undefined;
    this.data = [];
    this.event = '';
    this.id = undefined;
    return event;
  }
}

export interface FollowOptions {
  url: string;
  /** A bearer token for each (re)connection, so an expired one is replaced. */
  getToken: () => Promise<string>;
  onEvent: (event: SseEvent) => void;
  onError?: (err: unknown) => void;
  /** Where the first connection starts; later ones resume from the last event id seen. */
  lastEventId?: string;
  /** Reconnect delay bounds in ms; the delay doubles after each failure, with jitter. */
  minDelay?: number;
  maxDelay?: number;
  /** Reconnect when nothing (not even a heartbeat) arrives for this long, in ms. */
  idleTimeout?: number;
}

/**
 * Follows an SSE endpoint for as long as it is not closed: reconnects with
 * Last-Event-ID and exponential backoff whenever the stream drops, fails or
 * goes silent. `ready` resolves once the first connection is open.
 */
export function followEventStream(opts: FollowOptions): { ready: Promise<void>; close(): Promise<void> } {
  const minDelay = opts.minDelay ?? 250;
  const maxDelay = opts.maxDelay ?? 30_000;
  const idleTimeout = opts.idleTimeout ?? 45_000;
  const parser = new EventStreamParser();
  parser.lastEventId = opts.lastEventId;
  let closed = false;
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  async function connectOnce(): Promise<void> {
    const abort = (current = new AbortController());
    let idle = setTimeout(() => abort.abort(), idleTimeout);
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${await opts.getToken()}`, accept: 'text/event-stream' };
      if (parser.lastEventId) headers['last-event-id'] = parser.lastEventId;
      const res = await fetch(opts.url, { headers, signal: abort.signal });
      if (!res.ok || !res.body) throw new Error(`revocation feed answered ${res.status}`);
      markReady();
      const decoder = new TextDecoder();
      // A reader loop rather than `for await`: it type-checks whether or not the DOM lib is in scope.
      const reader = res.body.getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), idleTimeout);
        for (const event of parser.push(decoder.decode(next.value, { stream: true }))) opts.onEvent(event);
      }
    } finally {
      clearTimeout(idle);
    }
  }

  const loop = (async () => {
    let delay = minDelay;
    while (!closed) {
      const started = Date.now();
      try {
        await connectOnce();
      } catch (err) {
        if (!closed) opts.onError?.(err);
      }
      if (closed) break;
      // A connection that stayed up a while was healthy: start backing off from scratch.
      if (Date.now() - started > 10_000) delay = parser.retry ?? minDelay;
      const wait = delay / 2 + Math.random() * (delay / 2);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, wait);
      });
      // close() may have woken us early; the timer must not keep the process alive.
      clearTimeout(timer);
      delay = Math.min(delay * 2, maxDelay);
    }
  })();

  return {
    ready,
    async close() {
      closed = true;
      current?.abort();
      wake?.();
      await loop;
    },
  };
}
