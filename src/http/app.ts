import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import Koa from 'koa';
import type Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from '../log/index.ts';
import type { HealthMonitor } from '../runtime/health.ts';
import { newRequestId } from '../runtime/requestContext.ts';
import { problemErrors } from './middleware/problem.ts';
import { requestContext, SAFE_REQUEST_ID } from './middleware/requestContext.ts';
import { securityHeaders, SECURITY_HEADERS } from './middleware/securityHeaders.ts';

export interface HttpDeps {
  logger: Logger;
  /** While a backing service is down, provider endpoints that need it answer 503 at once. */
  health: HealthMonitor;
  /** The current provider; a new one is built after each signing-key change, and requests go to whichever is current. */
  provider: () => Provider;
  routers: Router[];
  /** Path prefixes served by Tessera's own routers; everything else belongs to oidc-provider. */
  ownPrefixes: string[];
  /** Requests Tessera answers itself although their path is the provider's (userinfo with a JWT). */
  ownRequest?: (req: IncomingMessage) => boolean;
  trustProxy: boolean;
  hsts: boolean;
  cookieKeys: string[];
  /** Called once per response with the surface it belongs to and its status (metrics). */
  observe?: (surface: Surface, status: number) => void;
  /** Share of successful provider responses written to the access log (TESSERA_ACCESS_LOG_SAMPLE); errors always are. */
  accessLogSample?: number;
}

/** Which part of Tessera answered: low-cardinality, for metrics. */
export const SURFACES = ['oidc', 'api', 'interaction', 'ops'] as const;
export type Surface = (typeof SURFACES)[number];

function surfaceOf(url: string): Surface {
  if (url.startsWith('/api')) return 'api';
  if (url.startsWith('/interaction')) return 'interaction';
  if (url.startsWith('/healthz') || url.startsWith('/readyz') || url.startsWith('/metrics')) return 'ops';
  return 'oidc';
}

/**
 * The request listener. Tessera's own routes run in a Koa app; every other
 * path goes straight to oidc-provider's own Koa app, with the same request id,
 * request context, security headers and access log, but without a second Koa
 * context and router pass on the token hot path (measured in bench/token).
 */
/** Provider endpoints that need neither Postgres nor Redis (static metadata and public keys). */
const ALWAYS_SERVED = /^\/(\.well-known\/|jwks(\?|$))/;

/**
 * Fail closed: 503 temporarily_unavailable in the RFC 6749 error shape for API
 * endpoints, a plain page for browser endpoints. Never a token, never a
 * misleading invalid_grant.
 */
function unavailable(url: string, res: ServerResponse): void {
  res.statusCode = 503;
  res.setHeader('Retry-After', '1');
  res.setHeader('Cache-Control', 'no-store');
  if (/^\/(token|me)\b/.test(url)) {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, retry shortly' }));
    return;
  }
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end('<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1><p>Try again in a moment.</p>');
}

export function createHttpHandler(deps: HttpDeps): { handler: RequestListener; app: Koa } {
  const app = new Koa({ proxy: deps.trustProxy, keys: deps.cookieKeys });
  app.silent = true;
  app.use(requestContext(deps.logger));
  app.use(securityHeaders({ hsts: deps.hsts }));
  app.use(problemErrors(deps.logger));
  for (const router of deps.routers) app.use(router.routes()).use(router.allowedMethods({ throw: true }));
  const own = app.callback();
  const callbacks = new WeakMap<Provider, RequestListener>();
  const oidc: RequestListener = (req, res) => {
    const provider = deps.provider();
    let callback = callbacks.get(provider);
    if (!callback) {
      callback = provider.callback() as RequestListener;
      callbacks.set(provider, callback);
    }
    return callback(req, res);
  };
  // Lower-case names (HTTP field names are case-insensitive): Node keys its header table by the
  // lower-cased name, and a name that is already lower case isn't copied and hashed afresh per response.
  const headers = Object.entries(SECURITY_HEADERS)
    .concat(deps.hsts ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']] : [])
    .map(([k, v]) => [k!.toLowerCase(), v!] as const);

  // Built once: this runs on every request, the token endpoint's included.
  const prefixes = deps.ownPrefixes.map((p) => [p, `${p}/`, `${p}?`] as const);
  const isOwn = (url: string) => prefixes.some(([p, dir, query]) => url === p || url.startsWith(dir) || url.startsWith(query));

  const observe = deps.observe;
  const sample = deps.accessLogSample ?? 1;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (isOwn(url) || deps.ownRequest?.(req)) {
      if (observe) res.once('finish', () => observe(surfaceOf(url), res.statusCode));
      return own(req, res);
    }
    if (!deps.health.up && !ALWAYS_SERVED.test(url)) {
      observe?.('oidc', 503);
      return unavailable(url, res);
    }
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : newRequestId();
    res.setHeader('x-request-id', requestId);
    for (const [k, v] of headers) res.setHeader(k, v);
    const started = performance.now();
    // One listener for the access log and the response counter: this is the token hot path.
    res.once('finish', () => {
      const status = res.statusCode;
      observe?.('oidc', status);
      // Successes are sampled (each sampled line says at what rate, so counts can be scaled); errors never are.
      if (status < 400 && sample < 1 && Math.random() >= sample) return;
      deps.logger[status >= 500 ? 'error' : 'info'](
        { requestId, method: req.method, path: url.split('?')[0], status, ms: Math.round(performance.now() - started), ...(status < 400 && sample < 1 ? { sampled: sample } : {}) },
        'request',
      );
    });
    // No request context of our own here: oidc-provider's ctx serves as one (runtime/requestContext.ts).
    return oidc(req, res);
  };
  return { handler, app };
}
