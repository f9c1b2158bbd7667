import type { Middleware } from 'koa';
import type { Logger } from '../../log/index.ts';
import { newRequestId, runInRequestContext } from '../../runtime/requestContext.ts';

/** Caller-supplied request ids are kept only when they look like ids. */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is safe), a
 * request context for per-request memos, and one access-log line. The query
 * string is never logged: it can carry codes and tokens.
 */
export function requestContext(logger: Logger): Middleware {
  return (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = SAFE_REQUEST_ID.test(incoming) ? incoming : newRequestId();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    return runInRequestContext(ctx, requestId, async () => {
      try {
        await next();
      } finally {
        const status = ctx.status;
        const level = status >= 500 ? 'error' : 'info';
        logger[level]({ requestId, method: ctx.method, path: ctx.path, status, ms: Math.round(performance.now() - started) }, 'request');
      }
    });
  };
}
