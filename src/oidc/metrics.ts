import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from '../runtime/tally.ts';
import type { Logger } from '../log/index.ts';

/**
 * grant_type is caller-controlled: anything outside the grants Tessera serves is
 * reported as "other", so a client can't mint new label values (series) at will.
 */
const KNOWN_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);
const GRANT_LABELS = ['authorization_code', 'refresh_token', 'client_credentials', 'none', 'other'] as const;
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
  // Tallies, not prom-client metrics: these count every token request (runtime/tally.ts).
  const requests = new TallyCounter({
    name: 'tessera_token_requests_total',
    help: 'Token endpoint requests by grant type and result (success or the OAuth error code)',
    labels: { grant: GRANT_LABELS, result: ['success', ...KNOWN_ERRORS, 'error'] },
  }).register(registry);
  const duration = new TallyHistogram({
    name: 'tessera_token_request_duration_seconds',
    help: 'Token endpoint latency by grant type, every outcome included',
    labels: { grant: GRANT_LABELS },
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }).register(registry);
  const requestSlots = new Map<string, Map<string, number>>(GRANT_LABELS.map((grant) => [grant, new Map(['success', ...KNOWN_ERRORS, 'error'].map((result) => [result, requests.slot({ grant, result })]))]));
  const durationSlots = new Map<string, number>(GRANT_LABELS.map((grant) => [grant, duration.slot({ grant })]));
  const count = (grant: string, result: string) => requests.inc(requestSlots.get(grant)!.get(result)!);

  /** When the token request reached the provider; stamped by a synchronous middleware (no promise of its own). */
  const STARTED = Symbol('tessera.tokenRequestStarted');
  type Timed = KoaContextWithOIDC & { [STARTED]?: number };
  const observe = (ctx: Timed, grant: string) => {
    const started = ctx[STARTED];
    if (started !== undefined) duration.observe(durationSlots.get(grant)!, (performance.now() - started) / 1000);
  };

  return {
    attach(provider) {
      // Latency is observed when the outcome is known (success, refusal or server error), not by wrapping
      // the request in an async middleware: this runs on every token request.
      provider.on('grant.success', (ctx: Timed) => {
        const grant = grantOf(ctx);
        count(grant, 'success');
        observe(ctx, grant);
      });
      provider.on('grant.error', (ctx: Timed, err: { error?: string; error_description?: string }) => {
        const grant = grantOf(ctx);
        const result = err.error && KNOWN_ERRORS.has(err.error) ? err.error : 'error';
        count(grant, result);
        observe(ctx, grant);
        // The description is oidc-provider's fixed text, never a parameter value.
        logger.debug({ grant, error: result, description: err.error_description }, 'token request refused');
      });
      provider.on('server_error', (ctx: Timed, err) => {
        logger.error({ err }, 'oidc server error');
        if (ctx?.oidc?.route !== 'token') return;
        const grant = grantOf(ctx);
        count(grant, 'server_error');
        observe(ctx, grant);
      });
      provider.use((ctx, next) => {
        if (ctx.path === '/token') (ctx as Timed)[STARTED] = performance.now();
        return next();
      });
    },
  };
}
