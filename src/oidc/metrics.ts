import type Provider from 'oidc-provider';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log/index.ts';

/** Token issuance counters and server-error logging from provider events. */
export function instrumentProvider(provider: Provider, registry: Registry, logger: Logger): void {
  const issued = new Counter({
    name: 'tessera_token_requests_total',
    help: 'Token endpoint requests by grant type and result',
    labelNames: ['grant', 'result'] as const,
    registers: [registry],
  });
  const grantOf = (ctx: { oidc?: { params?: { grant_type?: unknown } } }) => String(ctx.oidc?.params?.grant_type ?? 'unknown');
  provider.on('grant.success', (ctx) => issued.inc({ grant: grantOf(ctx), result: 'success' }));
  provider.on('grant.error', (ctx, err: { error?: string }) => issued.inc({ grant: grantOf(ctx), result: err.error ?? 'error' }));
  provider.on('server_error', (_ctx, err) => logger.error({ err }, 'oidc server error'));
}
