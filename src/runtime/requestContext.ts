import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * Per-request scratch space. Values read once per request (such as the tenant
 * version in Redis) are memoised here so one token issuance does one read.
 */
export interface RequestContext {
  requestId: string;
  memo: Map<string, Promise<unknown>>;
  /** The memoised values that have arrived, for callers that can go on without awaiting (token hot path). */
  settled: Map<string, unknown>;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** 64 random bits naming this process in its request ids. */
const REQUEST_ID_PREFIX = randomBytes(8).toString('hex');
let requestSeq = 0;

/**
 * A new request id: this process's random prefix and a counter, such as
 * `3f9c2a1b7d4e8f60-1a2b`. Unique across processes (the prefix) and ordered
 * within one; ids correlate log lines and are not secrets. Cheaper than a
 * random UUID on every token request.
 */
export function newRequestId(): string {
  requestSeq = requestSeq === Number.MAX_SAFE_INTEGER ? 1 : requestSeq + 1;
  return `${REQUEST_ID_PREFIX}-${requestSeq.toString(36)}`;
}

/** Runs `fn` inside a fresh request context. */
export function runInRequestContext<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId, memo: new Map(), settled: new Map() }, fn);
}

/**
 * A second source of request identity: an object that is unique per request
 * and already propagated by someone else's AsyncLocalStorage (oidc-provider's
 * own ctx). Using it on the token hot path avoids a second store, which on
 * Node 20 is copied at every promise creation (measured in bench/token).
 */
let ambientRequest: (() => object | undefined) | undefined;
/**
 * Where the context hangs on the ambient object: a symbol-keyed property, not a
 * WeakMap entry (ephemerons cost every young-generation GC; this is per request).
 */
const CONTEXT = Symbol('tessera.requestContext');
type Ambient = { [CONTEXT]?: RequestContext; res?: { getHeader?(name: string): unknown } };

/** Registers the ambient request source; called once when the provider is built. */
export function useAmbientRequest(source: () => object | undefined): void {
  ambientRequest = source;
}

/** The current request context, if any. */
export function currentRequest(): RequestContext | undefined {
  const own = storage.getStore();
  if (own) return own;
  const ambient = ambientRequest?.() as Ambient | undefined;
  if (!ambient) return undefined;
  let ctx = ambient[CONTEXT];
  if (!ctx) {
    // The HTTP layer sets X-Request-Id on the response before handing the request over.
    const header = ambient.res?.getHeader?.('x-request-id');
    ctx = { requestId: typeof header === 'string' ? header : '', memo: new Map(), settled: new Map() };
    ambient[CONTEXT] = ctx;
  }
  return ctx;
}

/** Memoises `load` for the rest of the current request; outside a request it just calls `load`. */
export function memoPerRequest<T>(key: string, load: () => Promise<T>): Promise<T> {
  const store = currentRequest();
  if (!store) return load();
  let hit = store.memo.get(key) as Promise<T> | undefined;
  if (!hit) {
    const loading = load();
    hit = loading;
    store.memo.set(key, loading);
    loading.then(
      (value) => {
        if (store.memo.get(key) === loading) store.settled.set(key, value);
      },
      // A failed read must not poison the rest of the request with a cached rejection.
      () => {
        if (store.memo.get(key) === loading) store.memo.delete(key);
      },
    );
  }
  return hit;
}

/**
 * The value memoised under `key` in this request if it has already arrived;
 * undefined when it is unknown, still loading or outside a request. Lets the
 * token hot path go on without an `await` (each costs promise hooks on Node 20).
 */
export function settledPerRequest<T>(key: string): T | undefined {
  return currentRequest()?.settled.get(key) as T | undefined;
}

/** Records a value for the rest of the request as if it had been memoised and had arrived (read together with another). */
export function rememberPerRequest(key: string, value: unknown): void {
  const store = currentRequest();
  if (!store) return;
  store.memo.set(key, Promise.resolve(value));
  store.settled.set(key, value);
}

/** Drops a memoised value, so the rest of the request reads it afresh (after this request changed it). */
export function forgetPerRequest(key: string): void {
  const store = currentRequest();
  store?.memo.delete(key);
  store?.settled.delete(key);
}
