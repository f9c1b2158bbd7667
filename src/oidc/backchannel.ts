import type Provider from 'oidc-provider';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log/index.ts';
import type { AuditLog } from '../services/audit.ts';
import type { TenantChange } from '../services/change.ts';
import type { BackchannelLogout, SessionAuthorization } from '../services/sessions.ts';

/** Gaps between delivery attempts: three tries within a few seconds, then the outcome is recorded. */
const RETRY_DELAYS_MS = [0, 500, 2_000];

/**
 * OIDC Back-Channel Logout 1.0 (SPEC §7 "Relying parties hear it too"): for
 * each client authorization of a session a revocation ended, a logout token
 * (signed like the client's ID tokens, with `sid`) is POSTed to the client's
 * `backchannel_logout_uri` by oidc-provider's own `Client#backchannelLogout`,
 * which refuses loopback and private addresses unless TESSERA_ALLOW_PRIVATE_OUTBOUND
 * is set. Delivery runs in the background, is retried, counted
 * (`tessera_backchannel_logout_total{result}`) and audited
 * (`session.backchannel_logout` with the outcome and attempts).
 */
export function createBackchannelLogout(deps: { provider: () => Provider; change: TenantChange; audit: AuditLog; logger: Logger; registry: Registry }): BackchannelLogout {
  const outcomes = new Counter({
    name: 'tessera_backchannel_logout_total',
    help: 'Back-channel logout tokens sent to relying parties, by outcome (after retries)',
    labelNames: ['result'] as const,
    registers: [deps.registry],
  });
  for (const result of ['delivered', 'failed'] as const) outcomes.inc({ result }, 0);

  async function deliver(tenantId: string, sub: string, { clientId, sid }: SessionAuthorization): Promise<void> {
    const client = (await deps.provider().Client.find(clientId).catch(() => undefined)) as
      | { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> }
      | undefined;
    if (!client?.backchannelLogoutUri) return;
    let attempts = 0;
    let error: string | undefined;
    for (const delay of RETRY_DELAYS_MS) {
      if (delay) await new Promise((r) => setTimeout(r, delay));
      attempts += 1;
      try {
        await client.backchannelLogout(sub, sid);
        error = undefined;
        break;
      } catch (err) {
        error = (err as Error).message;
      }
    }
    outcomes.inc({ result: error ? 'failed' : 'delivered' });
    if (error) deps.logger.warn({ tenantId, client: clientId, attempts, err: error }, 'back-channel logout not delivered');
    await deps
      .change(tenantId, (tx) =>
        deps.audit.record(tx, tenantId, {
          actor: { type: 'system', id: null },
          action: 'session.backchannel_logout',
          target: { type: 'user', id: sub },
          data: { client: clientId, result: error ? 'failed' : 'delivered', attempts, ...(error ? { error } : {}) },
        }),
      )
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'could not audit a back-channel logout'));
  }

  return {
    notify(tenantId, sub, ended) {
      for (const a of ended) void deliver(tenantId, sub, a).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'back-channel logout failed'));
    },
  };
}
