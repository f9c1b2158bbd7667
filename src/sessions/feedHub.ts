import type { Redis } from 'ioredis';
import { FEED_RETENTION, type RevocationEvent } from './feed.ts';
import type { RedisKeys } from '../redis/keys.ts';

/** A local consumer of one tenant's revocations (an SSE connection). */
export interface FeedListener {
  onEvent(event: RevocationEvent): void;
  /** The hub is shutting down; the listener should end its response. */
  onClose(): void;
}

/** Stream entry ids ("<ms>-<seq>") in order; false for anything that is not one. */
/** A Redis stream entry id whose parts fit in 64 bits (Redis refuses larger ones); 15 digits keep it exact in JS too. */
export const STREAM_ID = /^\d{1,15}-\d{1,15}$/;

/** Orders two Redis stream entry ids. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}

/**
 * The per-process end of the revocation feed. One Redis subscriber
 * connection (not one per SSE client, which would exhaust Redis connections)
 * is opened on first use and fans each announced event out to the local
 * listeners of its tenant. Replay for reconnecting clients reads the
 * tenant's stream with the main connection.
 */
export function createFeedHub(deps: { redis: Redis; keys: RedisKeys; onError?: (e: unknown) => void }) {
  const { redis, keys } = deps;
  const channel = keys.revocationChannel();
  const listeners = new Map<string, Set<FeedListener>>();
  let subscriber: Redis | undefined;
  let ready: Promise<void> | undefined;

  function dispatch(message: string): void {
    let event: RevocationEvent;
    try {
      event = JSON.parse(message) as RevocationEvent;
    } catch (e) {
      deps.onError?.(e);
      return;
    }
    for (const l of listeners.get(event.tid) ?? []) l.onEvent(event);
  }

  function start(): Promise<void> {
    // The main connection fails fast while offline; a subscriber should instead wait and resubscribe.
    const sub = redis.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, commandTimeout: undefined, lazyConnect: true });
    subscriber = sub;
    sub.on('error', (e) => deps.onError?.(e));
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel) dispatch(message);
    });
    return sub.subscribe(channel).then(() => undefined);
  }

  return {
    /** Registers a listener for `tenantId`; resolves once the subscription is live, with an unsubscribe function. */
    async subscribe(tenantId: string, listener: FeedListener): Promise<() => void> {
      ready ??= start().catch((e) => {
        ready = undefined;
        subscriber?.disconnect();
        subscriber = undefined;
        throw e;
      });
      await ready;
      let set = listeners.get(tenantId);
      if (!set) listeners.set(tenantId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (!set.size && listeners.get(tenantId) === set) listeners.delete(tenantId);
      };
    },

    /** The tenant's retained events strictly after `afterId`, oldest first. */
    async replay(tenantId: string, afterId: string): Promise<RevocationEvent[]> {
      const entries = await redis.xrange(keys.revocationStream(tenantId), `(${afterId}`, '+', 'COUNT', FEED_RETENTION);
      return entries.map(([id, fields]) => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
        return { id, tid: tenantId, sub: f.sub!, revoked_at: Number(f.revoked_at) };
      });
    },

    /** Number of local listeners, for metrics and tests of cleanup. */
    size(): number {
      let n = 0;
      for (const set of listeners.values()) n += set.size;
      return n;
    },

    /** Ends every local listener and closes the subscriber connection. */
    async close(): Promise<void> {
      for (const set of listeners.values()) for (const l of set) l.onClose();
      listeners.clear();
      const sub = subscriber;
      subscriber = undefined;
      ready = undefined;
      if (sub) await sub.quit().catch(() => sub.disconnect());
    },
  };
}

export type FeedHub = ReturnType<typeof createFeedHub>;
