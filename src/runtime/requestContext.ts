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

/**
 * Where a request's context lives. On Node 20 every AsyncLocalStorage that has
 * been entered once adds work to every promise created afterwards, in every
 * request. oidc-provider already keeps one (its `ctx`), so Tessera keeps none
 * of its own: its Koa routes run inside the provider's store too, with their
 * Koa ctx as the value, and the RequestContext hangs on whichever ctx is
 * current. A second store cost 6% of a client-credentials request as soon as
 * the process had served one admin request (bench/token; `npm start` serves
 * both). A process without a provider (tests of pieces) falls back to a store
 * of its own.
 */
export interface AmbientStore {
  /** The current request's holder object, if any. */
  current(): object | undefined;
  /** Runs `fn` with `holder` as the current request's holder. */
  run<T>(holder: object, fn: () => T): T;
}

let ambient: AmbientStore | undefined;
let fallback: AsyncLocalStorage<object> | undefined;

/** Registers the request store to share (oidc-provider's); called when the provider is built. */
export function useAmbientRequest(store: AmbientStore): void {
  ambient = store;
}

/**
 * The context hangs on the holder under a symbol-keyed property, not in a
 * WeakMap (ephemerons cost every young-generation GC; this is per request).
 */
const CONTEXT = Symbol('tessera.requestContext');
type Holder = { [CONTEXT]?: RequestContext; res?: { getHeader?(name: string): unknown } };

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

/** Runs `fn` inside a fresh request context held by `holder` (the request's Koa ctx). */
export function runInRequestContext<T>(holder: object, requestId: string, fn: () => T): T {
  (holder as Holder)[CONTEXT] = { requestId, memo: new Map(), settled: new Map() };
  if (ambient) return ambient.run(holder, fn);
  fallback ??= new AsyncLocalStorage<object>();
  return fallback.run(holder, fn);
}

/** The current request context, if any. */
export function currentRequest(): RequestContext | undefined {
  const holder = (ambient ? ambient.current() : fallback?.getStore()) as Holder | undefined;
  if (!holder) return undefined;
  let ctx = holder[CONTEXT];
  if (!ctx) {
    // A provider request: the HTTP layer set X-Request-Id on the response before handing it over.
    const header = holder.res?.getHeader?.('x-request-id');
    ctx = { requestId: typeof header === 'string' ? header : '', memo: new Map(), settled: new Map() };
    holder[CONTEXT] = ctx;
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

/**
 * Takes what was memoised under `key` out of the request: the first caller gets it, later ones get
 * undefined and read for themselves. For a read started ahead of the code that needs it (once).
 */
export function takePerRequest<T>(key: string): Promise<T> | undefined {
  const store = currentRequest();
  const hit = store?.memo.get(key) as Promise<T> | undefined;
  if (hit) {
    store!.memo.delete(key);
    store!.settled.delete(key);
  }
  return hit;
}

/** Drops a memoised value, so the rest of the request reads it afresh (after this request changed it). */
export function forgetPerRequest(key: string): void {
  const store = currentRequest();
  store?.memo.delete(key);
  store?.settled.delete(key);
}
