import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Per-request scratch space. Values read once per request (such as the tenant
 * version in Redis) are memoised here so one token issuance does one read.
 */
export interface RequestContext {
  requestId: string;
  memo: Map<string, Promise<unknown>>;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` inside a fresh request context. */
export function runInRequestContext<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId, memo: new Map() }, fn);
}

/** The current request context, if any. */
export const currentRequest = (): RequestContext | undefined => storage.getStore();

/** Memoises `load` for the rest of the current request; outside a request it just calls `load`. */
export function memoPerRequest<T>(key: string, load: () => Promise<T>): Promise<T> {
  const store = storage.getStore();
  if (!store) return load();
  let hit = store.memo.get(key) as Promise<T> | undefined;
  if (!hit) {
    hit = load();
    store.memo.set(key, hit);
    // A failed read must not poison the rest of the request with a cached rejection.
    hit.catch(() => store.memo.delete(key));
  }
  return hit;
}
