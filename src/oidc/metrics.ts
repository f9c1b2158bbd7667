import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log/index.ts';

/**
 * grant_type is caller-controlled: anything outside the grants Tessera serves is
 * reported as "other", so a client can't mint new label values (series) at will.
 */
const KNOWN_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);
const grantOf = (ctx: KoaContextWithOIDC) => {
  const grant = ctx.oidc?.params?.grant_type;
  return typeof grant === 'string' && KNOWN_GRANTS.has(grant) ? grant : grant === undefined ? 'none' : 'other';
};

/** RFC 6749 error codes plus oidc-provider's own; anything else is "error". */
const KNOWN_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'temporarily_unavailable',
  'server_error',
]);

export interface ProviderMetrics {
  /**
   * Hooks a provider's events and token endpoint into the shared metrics. Called
   * for every provider the process builds (a new one after each key change);
   * the metrics themselves are created once.
   */
  attach(provider: Provider): void;
}

/** Token issuance counters, token endpoint latency and server-error logging. */
export function createProviderMetrics(registry: Registry, logger: Logger): ProviderMetrics {
  const requests = new Counter({
    name: 'tessera_token_requests_total',
    help: 'Token endpoint requests by grant type and result (success or the OAuth error code)',
    labelNames: ['grant', 'result'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tessera_token_request_duration_seconds',
    help: 'Token endpoint latency by grant type, every outcome included',
    labelNames: ['grant'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  for (const grant of KNOWN_GRANTS) requests.inc({ grant, result: 'success' }, 0);

  /** When the token request reached the provider; stamped by a synchronous middleware (no promise of its own). */
  const STARTED = Symbol('tessera.tokenRequestStarted');
  type Timed = KoaContextWithOIDC & { [STARTED]?: number };
  const observe = (ctx: Timed) => {
    const started = ctx[STARTED];
    if (started !== undefined) duration.observe({ grant: grantOf(ctx) }, (performance.now() - started) / 1000);
  };

  return {
    attach(provider) {
      // Latency is observed when the outcome is known (success, refusal or server error), not by wrapping
      // the request in an async middleware: this runs on every token request.
      provider.on('grant.success', (ctx: Timed) => {
        requests.inc({ grant: grantOf(ctx), result: 'success' });
        observe(ctx);
      });
      provider.on('grant.error', (ctx: Timed, err: { error?: string; error_description?: string }) => {
        const result = err.error && KNOWN_ERRORS.has(err.error) ? err.error : 'error';
        requests.inc({ grant: grantOf(ctx), result });
        observe(ctx);
        // The description is oidc-provider's fixed text, never a parameter value.
        logger.debug({ grant: grantOf(ctx), error: result, description: err.error_description }, 'token request refused');
      });
      provider.on('server_error', (ctx: Timed, err) => {
        logger.error({ err }, 'oidc server error');
        if (ctx?.oidc?.route !== 'token') return;
        requests.inc({ grant: grantOf(ctx), result: 'server_error' });
        observe(ctx);
      });
      provider.use((ctx, next) => {
        if (ctx.path === '/token') (ctx as Timed)[STARTED] = performance.now();
        return next();
      });
    },
  };
}
