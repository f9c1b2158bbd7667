import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Middleware } from 'koa';
import type { Config } from '../../config/index.ts';
import type { EntitlementLoader } from '../../entitlements/loader.ts';
import type { TenantGraph } from '../../entitlements/resolve.ts';
import { AppError } from '../../errors/index.ts';
import type { AccountDirectory } from '../../oidc/accounts.ts';
import type { ClientDirectory } from '../../oidc/clients.ts';
import type { Actor } from '../../services/audit.ts';
import type { Revocations } from '../../sessions/revocations.ts';

/** Who is calling the admin API, established from a Tessera access token. */
export interface Principal {
  tenantId: string;
  actor: Actor & { type: 'user' | 'client'; id: string };
  clientId: string;
  /** Capability scopes in the token. */
  scopes: ReadonlySet<string>;
  /** When the presented token expires (epoch seconds): long-lived responses (streams) end then. */
  expiresAt: number;
  /** What the actor holds now, limited to what the token delegates: the basis of escalation checks. */
  held(): Promise<ReadonlySet<string>>;
  /** The tenant's role and group graph as of this request (the entitlement cache), for authority checks. */
  graph(): Promise<TenantGraph>;
}

const invalidToken = (detail: string) => new AppError(401, 'invalid_token', detail);

/** What verifying a Tessera access token for the admin API needs. */
export interface TokenAuthDeps {
  config: Config;
  /** Tessera's current public signing keys (oidc/keyRing.ts): verified locally, no network hop. */
  verifyKey: JWTVerifyGetKey;
  /**
   * The current key set's identity (a new object after every key change): when given, a token's
   * verified claims are reused while it is unexpired and the set is unchanged (`verifiedClaims`).
   */
  keySet?: () => object;
  clients: ClientDirectory;
  accounts: AccountDirectory;
  revocations: Revocations;
  entitlements: EntitlementLoader;
}

/**
 * The principal behind an access token for `<issuer>/api`: an RFC 9068 token
 * from this issuer, refused when its client is disabled, its user is suspended
 * or gone, or it was issued at or before the subject's revocation time, even
 * while it has not yet expired. The admin API (bearer header) and the console
 * (the token its server keeps) both go through this one check.
 */
export function createTokenAuthenticator(deps: TokenAuthDeps): (token: string) => Promise<Principal> {
  const verified = verifiedClaims(deps);
  return async (token) => {
    const payload = await verified(token);
    // DPoP is off; a token bound to a key (cnf) is never accepted as a plain bearer token (CHECKLIST 34).
    if (payload.cnf !== undefined) throw invalidToken('a sender-constrained token needs its proof of possession');
    const tenantId = String(payload.tid);
    const clientId = String(payload.client_id);
    const sub = String(payload.sub);
    const client = await deps.clients.find(clientId);
    if (!client || client.tenant_id !== tenantId) throw invalidToken('the client of this token is disabled or unknown');
    let actor: Principal['actor'];
    if (sub === clientId && client.client_type === 'service') {
      actor = { type: 'client', id: clientId };
    } else {
      const user = await deps.accounts.load(tenantId, sub);
      if (!user || user.status !== 'active') throw invalidToken('the subject of this token is suspended or deleted');
      actor = { type: 'user', id: sub };
    }
    const revokedAt = await deps.revocations.revokedAt(tenantId, sub);
    if (revokedAt && (payload.iat ?? 0) <= revokedAt) throw invalidToken('this token was issued before the subject’s sessions were revoked');
    const scopes = new Set(String(payload.scope ?? '').split(' ').filter(Boolean));
    let held: Promise<ReadonlySet<string>> | undefined;
    return {
      tenantId,
      actor,
      clientId,
      scopes,
      expiresAt: Number(payload.exp),
      held: () =>
        (held ??= deps.entitlements
          .capabilitiesOf(tenantId, actor.type, actor.id)
          .then((caps) => new Set(caps.filter((c) => scopes.has(c))))),
      graph: () => deps.entitlements.graph(tenantId),
    };
  };
}

/** Tokens whose verified claims are kept: an admin client reuses one token for its lifetime, and few are live at once. */
const VERIFIED_TOKENS = 1_000;

/**
 * Verifies a Tessera access token for `<issuer>/api` (signature, issuer, audience, RFC 9068 typ,
 * required claims) and answers its claims. With `keySet`, a token verified before is answered
 * from memory while it is unexpired and the key set hasn't changed: a signature check is about a
 * tenth of an admin write's work (bench/admin), and an automation client sends the same token for
 * minutes. Only verified tokens are kept, so a caller can't fill the map with tokens it made up; a
 * key change (a retired or compromised key) empties it for every token at once. What varies per
 * request (the client disabled, the user suspended, revoke-all) is checked afresh by the caller.
 */
function verifiedClaims(deps: TokenAuthDeps): (token: string) => Promise<JWTPayload> {
  const kept = new Map<string, { keys: object; payload: JWTPayload; exp: number }>();
  const options = {
    issuer: deps.config.issuer,
    audience: deps.config.apiAudience,
    typ: 'at+jwt',
    algorithms: [deps.config.TESSERA_SIGNING_ALG, 'ES256', 'EdDSA', 'PS256', 'RS256'],
    requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'tid'],
  };
  return async (token) => {
    const keys = deps.keySet?.();
    const hit = keys && kept.get(token);
    if (hit && hit.keys === keys && hit.exp > Date.now() / 1000) return hit.payload;
    if (hit) kept.delete(token);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, deps.verifyKey, options));
    } catch (e) {
      throw invalidToken(e instanceof joseErrors.JWTExpired ? 'the access token has expired' : 'the access token is not valid for this API');
    }
    if (keys) {
      // Oldest first out (Map keeps insertion order).
      if (kept.size >= VERIFIED_TOKENS) kept.delete(kept.keys().next().value!);
      kept.set(token, { keys, payload, exp: Number(payload.exp) });
    }
    return payload;
  };
}

/** Authenticates admin API calls from the bearer header (createTokenAuthenticator). */
export function authenticate(deps: TokenAuthDeps): Middleware {
  const principalOf = createTokenAuthenticator(deps);
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new AppError(401, 'unauthenticated', 'a bearer access token is required');
    }
    try {
      ctx.state.principal = await principalOf(match[1]!);
    } catch (err) {
      if (err instanceof AppError && err.status === 401) ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw err;
    }
    await next();
  };
}
