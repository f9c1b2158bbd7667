import { Counter, Gauge, type Registry } from 'prom-client';
import type { EntitlementCacheStats } from '../entitlements/loader.ts';

import type { SignInMetrics } from '../http/routes/interaction.ts';
import { SURFACES, type Surface } from '../http/app.ts';
import { TallyCounter } from '../runtime/tally.ts';

export type { RateLimit, SignInMetrics } from '../http/routes/interaction.ts';

/** Sign-in failure and rate-limit counters, with every label value present from the start. */
export function createSignInMetrics(registry: Registry): SignInMetrics {
  const failures = new Counter({
    name: 'tessera_login_failures_total',
    // No reason label: "unknown email" against "wrong password" would tell anyone who can read /metrics which accounts exist.
    help: 'Failed password sign-ins (unknown email, wrong password and suspended account alike)',
    registers: [registry],
  });
  const limited = new Counter({
    name: 'tessera_rate_limited_total',
    help: 'Sign-in attempts refused by the login throttle, by the limit that was reached',
    labelNames: ['limit'] as const,
    registers: [registry],
  });
  for (const limit of ['account', 'ip'] as const) limited.inc({ limit }, 0);
  return {
    loginFailed: () => failures.inc(),
    rateLimited: (limit) => limited.inc({ limit }),
  };
}

/**
 * Entitlement cache lookups as a counter. The loader bumps plain numbers on the
 * token hot path; the counter catches up from them at scrape time.
 */
export function registerEntitlementCacheMetric(registry: Registry, stats: EntitlementCacheStats): void {
  const seen = { hits: 0, misses: 0 };
  new Counter({
    name: 'tessera_entitlement_cache_total',
    help: 'Entitlement lookups answered from the in-process cache (hit) or recomputed (miss)',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.inc({ result: 'hit' }, stats.hits - seen.hits);
      this.inc({ result: 'miss' }, stats.misses - seen.misses);
      seen.hits = stats.hits;
      seen.misses = stats.misses;
    },
  });
}

/** HTTP responses by surface and status class; the fail-closed 503s included. */
const CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;

export function createHttpMetrics(registry: Registry): (surface: Surface, status: number) => void {
  // A tally, not a prom-client Counter: this runs once per response, token requests included (runtime/tally.ts).
  const responses = new TallyCounter({
    name: 'tessera_http_responses_total',
    help: 'HTTP responses by surface (oidc, api, interaction, ops) and status class (2xx … 5xx)',
    labels: { surface: SURFACES, code: CLASSES },
  }).register(registry);
  const slots = new Map(SURFACES.map((surface) => [surface, CLASSES.map((code) => responses.slot({ surface, code }))]));
  return (surface, status) => responses.inc(slots.get(surface)![status >= 500 ? 3 : status >= 400 ? 2 : status >= 300 ? 1 : 0]!);
}

/** `tessera_db_pool_connections{state}`: the Postgres pool at scrape time (total, idle, and requests waiting for one). */
export function registerDbPoolGauge(registry: Registry, stats: (() => { total: number; idle: number; waiting: number }) | undefined): void {
  if (!stats) return;
  new Gauge({
    name: 'tessera_db_pool_connections',
    help: 'Postgres pool of this process: open connections (total), idle ones, and queries waiting for a connection (TESSERA_DB_POOL_MAX)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
}
