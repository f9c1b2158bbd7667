import Router from '@koa/router';
import type { JWTVerifyGetKey } from 'jose';
import type { Redis } from 'ioredis';
import type { Config } from '../../../config/index.ts';
import type { EntitlementLoader } from '../../../entitlements/loader.ts';
import type { AccountDirectory } from '../../../oidc/accounts.ts';
import type { ClientDirectory } from '../../../oidc/clients.ts';
import type { FeedHub } from '../../../sessions/feedHub.ts';
import type { RedisKeys } from '../../../redis/keys.ts';
import type { Revocations } from '../../../sessions/revocations.ts';
import type { Services } from '../../../services/index.ts';
import { AppError } from '../../../errors/index.ts';
import { createIdempotency } from '../../api/idempotency.ts';
import { buildOpenApi } from '../../api/openapi.ts';
import { authenticate } from '../../api/principal.ts';
import { mountRoutes, type RouteDef } from '../../api/route.ts';
import { applicationRoutes } from './applications.ts';
import { auditRoutes } from './audit.ts';
import { brandingRoutes } from './branding.ts';
import { capabilityRoutes } from './capabilities.ts';
import { groupRoutes } from './groups.ts';
import { revocationRoutes } from './revocations.ts';
import { roleRoutes } from './roles.ts';
import { jobRoutes } from './jobs.ts';
import { bulkRoutes } from './bulk.ts';
import { exportRoutes } from './exports.ts';
import { sessionRoutes } from './sessions.ts';
import { userRoutes } from './users.ts';

export interface ApiDeps {
  config: Config;
  verifyKey: JWTVerifyGetKey;
  /** The current key set's identity, so verified tokens can be reused until it changes (http/api/principal.ts). */
  keySet?: () => object;
  clients: ClientDirectory;
  accounts: AccountDirectory;
  revocations: Revocations;
  entitlements: EntitlementLoader;
  redis: Redis;
  keys: RedisKeys;
  services: Services;
  feedHub: FeedHub;
  /** A server secret shared by every process (the cookie key): idempotent responses are encrypted under keys derived from it. */
  secret: string;
}

/** Every admin API operation, in the order the OpenAPI document lists them. */
export function apiRoutes(deps: ApiDeps): RouteDef[] {
  const { services } = deps;
  return [
    ...capabilityRoutes(),
    ...roleRoutes({ roles: services.roles }),
    ...userRoutes({ services, entitlements: deps.entitlements }),
    ...sessionRoutes({ sessions: services.sessions }),
    ...revocationRoutes({ hub: deps.feedHub }),
    ...groupRoutes({ services }),
    ...applicationRoutes({ services }),
    ...brandingRoutes({ services }),
    ...auditRoutes({ services }),
    ...jobRoutes({ jobs: services.jobs }),
    ...bulkRoutes({ services }),
    ...exportRoutes({ services }),
  ];
}

/** The admin API under /api/v1: OpenAPI document, authentication, routes (with idempotency), problem 404s. */
export function apiRouter(deps: ApiDeps): Router {
  const routes = apiRoutes(deps);
  const document = buildOpenApi(routes, { issuer: deps.config.issuer, version: '1' });
  const router = new Router({ prefix: '/api/v1' });
  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });
  router.use(authenticate(deps));
  mountRoutes(router, routes, { idempotency: createIdempotency({ redis: deps.redis, keys: deps.keys, secret: deps.secret }) });
  router.all('/{*rest}', () => {
    throw new AppError(404, 'not_found', 'no such admin API operation');
  });
  return router;
}
