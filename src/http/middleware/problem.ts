import type { Middleware } from 'koa';
import { AppError } from '../../errors/index.ts';
import { isBackingServiceError } from '../../errors/backing.ts';
import type { Logger } from '../../log/index.ts';

const HTTP_CODES: Record<number, string> = { 404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type' };

/** Writes an RFC 9457 problem+json body. */
export function writeProblem(ctx: Parameters<Middleware>[0], status: number, code: string, detail: string, extra: Record<string, unknown> = {}) {
  ctx.status = status;
  ctx.type = 'application/problem+json';
  ctx.body = { type: `https://tessera.dev/problems/${code}`, title: code.replace(/_/g, ' '), status, code, detail, ...extra };
}

/**
 * Maps every error thrown by Tessera's own routes to problem+json. Unknown
 * errors become a bare 500 with the request id and nothing else.
 */
export function problemErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof AppError) {
        if (!err.expose) logger.error({ err, requestId: ctx.state.requestId }, 'service error');
        const detail = err.expose ? err.message : 'the service is unavailable, retry shortly';
        if (err.status === 429 && typeof err.details.retry_after === 'number') ctx.set('Retry-After', String(err.details.retry_after));
        writeProblem(ctx, err.status, err.code, detail, err.expose ? err.details : {});
        return;
      }
      const status = (err as { status?: number }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        writeProblem(ctx, status, HTTP_CODES[status] ?? 'bad_request', (err as Error).message);
        return;
      }
      // oidc-provider's own fail-closed error (oidc/errors.ts TemporarilyUnavailable), raised under interaction routes.
      if (isBackingServiceError(err) || status === 503) {
        logger.warn({ err: (err as Error).message, requestId: ctx.state.requestId }, 'backing service unavailable');
        ctx.set('Retry-After', '1');
        writeProblem(ctx, 503, 'temporarily_unavailable', 'a backing service is unavailable, retry shortly');
        return;
      }
      logger.error({ err, requestId: ctx.state.requestId }, 'unhandled error');
      writeProblem(ctx, 500, 'internal_error', 'an unexpected error occurred', { request_id: ctx.state.requestId });
    }
  };
}
