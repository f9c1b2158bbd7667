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

/**
 * A second source of request identity: an object that is unique per request
 * and already propagated by someone else's AsyncLocalStorage (oidc-provider's
 * own ctx). Using it on the token hot path avoids a second store, which on
 * Node 20 is copied at every promise creation (measured in bench/token).
 */
let ambientRequest: (() => object | undefined) | undefined;
const ambientContexts = new WeakMap<object, RequestContext>();

/** Registers the ambient request source; called once when the provider is built. */
export function useAmbientRequest(source: () => object | undefined): void {
  ambientRequest = source;
}

/** The current request context, if any. */
export function currentRequest(): RequestContext | undefined {
  const own = storage.getStore();
  if (own) return own;
  const ambient = ambientRequest?.();
  if (!ambient) return undefined;
  let ctx = ambientContexts.get(ambient);
  if (!ctx) {
    // The HTTP layer sets X-Request-Id on the response before handing the request over.
    const header = (ambient as { res?: { getHeader?(name: string): unknown } }).res?.getHeader?.('x-request-id');
    ctx = { requestId: typeof header === 'string' ? header : '', memo: new Map() };
    ambientContexts.set(ambient, ctx);
  }
  return ctx;
}

/** Memoises `load` for the rest of the current request; outside a request it just calls `load`. */
export function memoPerRequest<T>(key: string, load: () => Promise<T>): Promise<T> {
  const store = currentRequest();
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

/** Drops a memoised value, so the rest of the request reads it afresh (after this request changed it). */
export function forgetPerRequest(key: string): void {
  currentRequest()?.memo.delete(key);
}
