import Router from '@koa/router';
import type { Registry } from 'prom-client';
import type { HealthMonitor } from '../../runtime/health.ts';

export interface HealthDeps {
  /** The same monitor that gates the OIDC endpoints, so /readyz and the gate never disagree. */
  health: HealthMonitor;
  registry: Registry;
  /** False when /metrics has its own listener (TESSERA_METRICS_PORT): then the public port doesn't serve it. */
  metrics: boolean;
}

/** Liveness, readiness and Prometheus metrics. */
export function healthRoutes(deps: HealthDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    await deps.health.check();
    const checks = deps.health.status();
    const ready = deps.health.up;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });
  if (deps.metrics) {
    router.get('/metrics', async (ctx) => {
      ctx.type = deps.registry.contentType;
      ctx.body = await deps.registry.metrics();
    });
  }
  return router;
}
