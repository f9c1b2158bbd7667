import Koa from 'koa';
import type Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from '../log/index.ts';
import { problemErrors } from './middleware/problem.ts';
import { requestContext } from './middleware/requestContext.ts';
import { securityHeaders } from './middleware/securityHeaders.ts';

export interface HttpDeps {
  logger: Logger;
  provider: Provider;
  routers: Router[];
  trustProxy: boolean;
  hsts: boolean;
  cookieKeys: string[];
}

/**
 * The Koa app: Tessera's own routes first, then oidc-provider for everything
 * else. The provider runs through its own callback so it keeps its own Koa
 * context (cookie keys, error handling) while sharing our request context.
 */
export function createHttpApp(deps: HttpDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy, keys: deps.cookieKeys });
  app.silent = true;
  app.use(requestContext(deps.logger));
  app.use(securityHeaders({ hsts: deps.hsts }));
  app.use(problemErrors(deps.logger));
  for (const router of deps.routers) app.use(router.routes()).use(router.allowedMethods());
  const oidc = deps.provider.callback();
  app.use(async (ctx) => {
    ctx.respond = false;
    await oidc(ctx.req, ctx.res);
  });
  return app;
}
