import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Revocations } from '../sessions/revocations.ts';
import type { AccountDirectory } from './accounts.ts';
import type { ClientDirectory, TesseraClientFields } from './clients.ts';

type Caller = TesseraClientFields & { clientId: string; clientAuthMethod: string };

interface AccessTokenClaims extends JWTPayload {
  client_id: string;
  tid: string;
  scope?: string;
  sid?: string;
  auth_time?: number;
}

/**
 * RFC 7662 for Tessera's own JWT access tokens. oidc-provider authenticates
 * the caller and then refuses structured tokens with unsupported_token_type,
 * which leaves resource servers unable to learn that a JWT was revoked before
 * it expired. This post-processor answers those requests instead, with the
 * same checks the admin API applies (principal.ts) and the same visibility
 * rule as `introspectionAllowed` for opaque tokens.
 */
export function jwtIntrospection(deps: {
  issuer: string;
  /** The provider's current public keys (keyRing.ts). */
  verifyKey: JWTVerifyGetKey;
  algorithms: string[];
  clients: ClientDirectory;
  accounts: AccountDirectory;
  revocations: Revocations;
  onError?: (e: unknown) => void;
}) {
  const keySet = deps.verifyKey;

  async function verify(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify<AccessTokenClaims>(token, keySet, {
        issuer: deps.issuer,
        typ: 'at+jwt',
        algorithms: deps.algorithms,
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'tid'],
      });
      return payload;
    } catch {
      return undefined;
    }
  }

  /** Same rule as provider.ts introspectionAllowed: own tokens, or a confidential client of the tenant. */
  const visibleTo = (caller: Caller, claims: AccessTokenClaims) =>
    claims.tid === caller.tenant_id && (claims.client_id === caller.clientId || caller.clientAuthMethod !== 'none');

  async function subjectActive(claims: AccessTokenClaims, owner: TesseraClientFields): Promise<boolean> {
    if (claims.sub === claims.client_id && owner.client_type === 'service') return true;
    const user = await deps.accounts.load(claims.tid, claims.sub!);
    return user?.status === 'active';
  }

  /** Everything that can make a validly signed, unexpired token dead. */
  async function isActive(caller: Caller, claims: AccessTokenClaims): Promise<boolean> {
    if (!visibleTo(caller, claims)) return false;
    const owner = await deps.clients.find(claims.client_id);
    if (!owner || owner.tenant_id !== claims.tid) return false;
    const [subjectOk, revokedAt] = await Promise.all([subjectActive(claims, owner), deps.revocations.revokedAt(claims.tid, claims.sub!)]);
    return subjectOk && !(revokedAt && claims.iat! <= revokedAt);
  }

  /**
   * oidc-provider answers for opaque access tokens and refresh tokens it finds in
   * Redis, checking only that the token and its grant exist. A Redis that lost a
   * revoke-all's purge (failover, restore) still has them, so the same checks as
   * for JWTs run on its positive answers: subject status and revocation time.
   */
  async function recheckStoredToken(ctx: KoaContextWithOIDC, caller: Caller): Promise<void> {
    const body = ctx.body as { active?: boolean; sub?: string; client_id?: string; iat?: number } | undefined;
    if (!body?.active || !body.sub || !body.client_id || typeof body.iat !== 'number') return;
    let active: boolean;
    try {
      active = await isActive(caller, { tid: caller.tenant_id, sub: body.sub, client_id: body.client_id, iat: body.iat } as AccessTokenClaims);
    } catch (e) {
      deps.onError?.(e);
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, retry shortly' };
      return;
    }
    if (!active) ctx.body = { active: false };
  }

  // Only introspection is touched; every other provider request passes straight through (no async wrapper).
  return function introspectJwtAccessTokens(ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> {
    if (ctx.method !== 'POST' || !ctx.path.endsWith('/introspection')) return next() as Promise<void>;
    return next().then(() => afterIntrospection(ctx));
  };

  async function afterIntrospection(ctx: KoaContextWithOIDC): Promise<void> {
    const body = ctx.body as { error?: string } | undefined;
    const caller = ctx.oidc?.client as unknown as Caller | undefined;
    if (ctx.oidc?.route !== 'introspection' || !caller) return;
    if (ctx.status === 200) return recheckStoredToken(ctx, caller);
    if (ctx.status !== 400 || body?.error !== 'unsupported_token_type') return;
    const token = String(ctx.oidc.params?.token ?? '');
    const claims = await verify(token);
    let active: boolean;
    try {
      active = claims !== undefined && (await isActive(caller, claims));
    } catch (e) {
      // This runs after the provider's own error rendering, so answer its 503 shape here (fail closed, see errors.ts).
      deps.onError?.(e);
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable, retry shortly' };
      return;
    }
    ctx.status = 200;
    ctx.type = 'application/json';
    if (!active || !claims) {
      ctx.body = { active: false };
      return;
    }
    ctx.body = {
      active: true,
      scope: claims.scope,
      client_id: claims.client_id,
      sub: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      iss: claims.iss,
      aud: claims.aud,
      jti: claims.jti,
      tid: claims.tid,
      token_type: 'Bearer',
      ...(claims.sid ? { sid: claims.sid } : {}),
      ...(claims.auth_time ? { auth_time: claims.auth_time } : {}),
    };
  }
}
