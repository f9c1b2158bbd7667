import Router from '@koa/router';
import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import type { Config } from '../config/index.ts';
import type { Revocations } from '../sessions/revocations.ts';
import type { AccountDirectory } from './accounts.ts';
import type { ClientDirectory } from './clients.ts';

const JWT_BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/** True for a userinfo request that carries a JWT: Tessera answers it itself; oidc-provider keeps opaque tokens. */
export const isJwtUserinfo = (req: IncomingMessage): boolean => /^\/me(\?|$)/.test(req.url ?? '') && JWT_BEARER.test(req.headers.authorization ?? '');

/**
 * Userinfo for Tessera's own JWT access tokens (SPEC §6 "Userinfo"). oidc-provider
 * only knows the opaque tokens it stores, but RPs call userinfo with the access
 * token they received, which is a JWT once a capability was asked for; Keycloak
 * and Auth0 accept theirs there too. The token must verify, come from a grant
 * that included `openid` (`oidc_scope`, set at issuance), belong to an enabled
 * client and an active user of the same tenant, and postdate the user's
 * revocation time. Claims follow the grant's OIDC scopes.
 */
/**
 * CORS for a browser-based RP calling userinfo with a JWT, from one of its own
 * redirect origins: the rule oidc-provider's `clientBasedCORS` applies to the
 * opaque-token path (provider.ts). The preflight carries no token, so
 * oidc-provider answers it. Refusals before the client is known carry no CORS
 * headers, so another origin learns nothing.
 */
function allowOrigin(ctx: Context, redirectUris: readonly string[] | undefined): void {
  const origin = ctx.get('origin');
  if (!origin || origin === 'null') return;
  ctx.vary('Origin');
  if (!redirectUris?.some((uri) => URL.parse(uri)?.origin === origin)) return;
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
}

export function jwtUserinfoRoutes(deps: { config: Config; verifyKey: JWTVerifyGetKey; clients: ClientDirectory; accounts: AccountDirectory; revocations: Revocations }): Router {
  const router = new Router();
  const refuse = (ctx: Context, description: string) => {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'invalid_token', error_description: description };
  };
  const answer = async (ctx: Context) => {
    const token = JWT_BEARER.exec(ctx.get('authorization'))?.[1];
    if (!token) return refuse(ctx, 'no access token');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, deps.verifyKey, {
        issuer: deps.config.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'tid'],
      }));
    } catch (err) {
      return refuse(ctx, err instanceof joseErrors.JWTExpired ? 'access token expired' : 'invalid token provided');
    }
    const scopes = String(claims.oidc_scope ?? '').split(' ');
    if (!scopes.includes('openid') || claims.cnf !== undefined) return refuse(ctx, 'access token not valid for userinfo');
    const tenantId = String(claims.tid);
    const client = await deps.clients.find(String(claims.client_id));
    if (!client || client.tenant_id !== tenantId) return refuse(ctx, 'the client of this token is disabled or unknown');
    allowOrigin(ctx, client.redirect_uris);
    const user = await deps.accounts.load(tenantId, String(claims.sub));
    if (!user || user.status !== 'active') return refuse(ctx, 'the subject of this token is suspended or deleted');
    const revokedAt = await deps.revocations.revokedAt(tenantId, user.id);
    if (revokedAt && (claims.iat ?? 0) <= revokedAt) return refuse(ctx, 'access token revoked');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      sub: user.id,
      ...(scopes.includes('profile') ? { name: user.displayName } : {}),
      ...(scopes.includes('email') ? { email: user.email, email_verified: false } : {}),
    };
  };
  router.get('/me', answer);
  router.post('/me', answer);
  return router;
}
