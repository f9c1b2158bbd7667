/**
 * A tiny API protected by Tessera: one route that needs a capability scope,
 * with revoked tokens refused within a second through the revocation feed.
 *
 *   TESSERA_ISSUER=https://id.example.com API_AUDIENCE=https://reports.example.com \
 *   FEED_CLIENT_ID=… FEED_CLIENT_SECRET=… npx tsx examples/koa-resource-server.ts
 *
 * FEED_CLIENT_* is a Tessera service client holding users:view; without it the
 * API still works but a revoked token stays usable until it expires.
 *
 * TESSERA_URL is where this API reaches Tessera when that differs from the
 * issuer, e.g. `http://proxy:3000` inside docker-compose while browsers and
 * tokens say `http://localhost:3000`. Tokens are still checked against
 * TESSERA_ISSUER; only the keys, the feed and its token are fetched there.
 */
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import { createTokenVerifier, requireScopes, type VerifiedToken } from '../packages/resource-server/src/index.js';

export interface ExampleOptions {
  issuer: string;
  /** Base URL to reach Tessera at, when it differs from `issuer`. Defaults to `issuer`. */
  tesseraUrl?: string;
  audience: string;
  /** The tenant whose tokens the API accepts (its id, the tokens' `tid`); `'any'` only for an API that serves every tenant. */
  tenants: readonly string[] | 'any';
  /** The scope GET /reports requires. */
  scope?: string;
  feedClient?: { id: string; secret: string };
}

/** Client credentials for the feed, renewed a minute before they expire. */
function feedTokens(tesseraUrl: string, client: { id: string; secret: string }): () => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.until) return cached.token;
    const res = await fetch(`${tesseraUrl}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'users:view' }).toString(),
    });
    const json = (await res.json()) as { access_token?: string; expires_in?: number; error?: string };
    if (!json.access_token) throw new Error(`the feed client got no token: ${json.error ?? res.status}`);
    cached = { token: json.access_token, until: Date.now() + ((json.expires_in ?? 300) - 60) * 1000 };
    return cached.token;
  };
}

/** Builds the example API; `listen` starts it, `close` stops it and its feed. */
export function createExampleApi(opts: ExampleOptions) {
  const base = opts.tesseraUrl ?? opts.issuer;
  const verifier = createTokenVerifier({
    issuer: opts.issuer,
    audience: opts.audience,
    tenants: opts.tenants,
    jwksUri: `${base}/jwks`,
    ...(opts.feedClient ? { revocations: { streamUrl: `${base}/api/v1/revocations/stream`, getToken: feedTokens(base, opts.feedClient) } } : {}),
  });
  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.path !== '/reports') return next();
    return requireScopes(verifier, opts.scope ?? 'reports:view')(ctx, async () => {
      const token = ctx.state.token as VerifiedToken;
      ctx.body = { reports: [], sub: token.sub, client_id: token.clientId, tenant: token.tenantId };
    });
  });
  let server: Server | undefined;
  return {
    app,
    verifier,
    async listen(port: number, host = '127.0.0.1'): Promise<string> {
      server = app.listen(port, host);
      await new Promise<void>((resolve, reject) => server!.once('listening', resolve).once('error', reject));
      return `http://${host}:${port}`;
    },
    async close(): Promise<void> {
      await verifier.close();
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const api = createExampleApi({
    issuer: env.TESSERA_ISSUER ?? 'http://localhost:3000',
    ...(env.TESSERA_URL ? { tesseraUrl: env.TESSERA_URL } : {}),
    audience: env.API_AUDIENCE ?? 'http://localhost:4000',
    // The bootstrap banner prints the tenant id ("Tenant: default (<id>)").
    tenants: env.TESSERA_TENANT_ID ? env.TESSERA_TENANT_ID.split(',') : 'any',
    scope: env.API_SCOPE ?? 'reports:view',
    ...(env.FEED_CLIENT_ID && env.FEED_CLIENT_SECRET ? { feedClient: { id: env.FEED_CLIENT_ID, secret: env.FEED_CLIENT_SECRET } } : {}),
  });
  if (!env.TESSERA_TENANT_ID) process.stderr.write('TESSERA_TENANT_ID is not set: accepting tokens of every tenant of the issuer\n');
  const url = await api.listen(Number(env.PORT ?? 4000), env.HOST ?? '127.0.0.1');
  process.stdout.write(`example API on ${url}/reports\n`);
  const stop = () => void api.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
