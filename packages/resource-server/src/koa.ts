import { TokenError, type TokenVerifier } from './verifier.js';

/**
 * The part of a Koa context the middleware uses, so the package depends on jose
 * alone (no koa types needed); a Koa `Context` fits it.
 */
export interface KoaLikeContext {
  get(field: string): string;
  set(field: string, value: string): void;
  status: number;
  body: unknown;
  state: Record<string, unknown>;
}
export type KoaLikeMiddleware = (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void>;

const quote = (s: string) => s.replace(/["\\]/g, '');

/** The RFC 6750 §3 challenge for a refused request. */
function challenge(err: TokenError | undefined): string {
  if (!err) return 'Bearer';
  const parts = [`error="${err.code}"`, `error_description="${quote(err.message)}"`];
  if (err.code === 'insufficient_scope') parts.push(`scope="${quote(err.scopes.join(' '))}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * Koa middleware: the request needs a valid bearer token carrying every one
 * of `scopes`. On success the token is in `ctx.state.token`; otherwise the
 * answer is 401 or 403 with WWW-Authenticate and a small JSON body.
 */
export function requireScopes(verifier: TokenVerifier, ...scopes: string[]): KoaLikeMiddleware {
  return async (ctx, next) => {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(ctx.get('authorization'));
    if (!match) {
      // No credentials at all: RFC 6750 §3.1 says no error code in the challenge.
      ctx.status = 401;
      ctx.set('WWW-Authenticate', challenge(undefined));
      ctx.body = { error: 'invalid_request', error_description: 'a bearer access token is required' };
      return;
    }
    try {
      ctx.state.token = await verifier.verify(match[1]!, { scopes });
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      ctx.status = err.status;
      ctx.set('WWW-Authenticate', challenge(err));
      ctx.body = { error: err.code, error_description: err.message };
      return;
    }
    await next();
  };
}
