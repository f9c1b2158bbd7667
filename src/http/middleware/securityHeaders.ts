import type { Middleware } from 'koa';

/** Headers on every response. Pages have no scripts, so the CSP allows none. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  // No form-action: browsers apply it to the redirect chain back to the client.
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'",
});

/** Koa middleware setting SECURITY_HEADERS (and HSTS behind https). */
export function securityHeaders(opts: { hsts: boolean }): Middleware {
  return async (ctx, next) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) ctx.set(k, v);
    if (opts.hsts) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
