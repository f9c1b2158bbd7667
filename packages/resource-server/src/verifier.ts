import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { followEventStream } from './sse.js';

/**
 * A refused bearer token, with the RFC 6750 error code and HTTP status a
 * resource server should answer with: 401 invalid_token, 403 insufficient_scope.
 */
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    readonly status: 401 | 403,
    readonly code: 'invalid_token' | 'insufficient_scope',
    message: string,
    /** For insufficient_scope: the scopes the request needed. */
    readonly scopes: readonly string[] = [],
  ) {
    super(message);
  }
}

/** What a resource server learns from a valid Tessera access token. */
export interface VerifiedToken {
  /** The user id, or the client id of a service client. */
  sub: string;
  clientId: string;
  tenantId: string;
  scopes: ReadonlySet<string>;
  claims: JWTPayload;
}

export interface TokenVerifierOptions {
  /** Tessera's issuer URL, e.g. https://id.example.com. */
  issuer: string;
  /** This API's resource indicator: tokens for any other audience are refused. */
  audience: string;
  /**
   * The tenant ids (`tid`) whose tokens this API accepts (CHECKLIST 35): the same
   * audience may be registered in several tenants, and a token of another tenant
   * must not pass with the capabilities it carries there. `'any'` accepts every
   * tenant of the issuer, for an API that serves them all and checks `tenantId` itself.
   */
  tenants: readonly string[] | 'any';
  /** Defaults to `<issuer>/jwks`. */
  jwksUri?: string;
  algorithms?: string[];
  /** Seconds of clock skew accepted on exp/iat. */
  clockTolerance?: number;
  /**
   * Follow Tessera's revocation feed so that tokens issued before a
   * revoke-all or a suspension are refused at once instead of at expiry.
   * The token must be able to read the feed (capability users:view).
   */
  revocations?: { streamUrl: string; getToken: () => Promise<string>; onError?: (err: unknown) => void };
}

export interface TokenVerifier {
  verify(token: string, opts?: { scopes?: readonly string[] }): Promise<VerifiedToken>;
  /** Resolves when the revocation feed is connected (at once without one). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Verifies Tessera's RFC 9068 access tokens for one API: signature against
 * the issuer's published keys, issuer, audience, `typ: at+jwt`, expiry,
 * required scopes and, when `revocations` is set, the subject's last
 * revocation time as announced on the feed.
 */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUri ?? `${opts.issuer}/jwks`));
  const algorithms = opts.algorithms ?? ['ES256', 'EdDSA', 'PS256', 'RS256'];
  /** "<tid> <sub>" → epoch seconds of the newest revocation seen. */
  const revokedAt = new Map<string, number>();

  // The first connection replays every retained revocation (since=0-0), so a
  // freshly started API also refuses tokens revoked before it started.
  const feed = opts.revocations
    ? followEventStream({
        url: `${opts.revocations.streamUrl}${opts.revocations.streamUrl.includes('?') ? '&' : '?'}since=0-0`,
        getToken: opts.revocations.getToken,
        onError: opts.revocations.onError,
        onEvent(event) {
          if (event.event !== 'revocation') return;
          try {
            const { sub, tid, revoked_at } = JSON.parse(event.data) as { sub: string; tid: string; revoked_at: number };
            const key = `${tid} ${sub}`;
            revokedAt.set(key, Math.max(revokedAt.get(key) ?? 0, revoked_at));
          } catch (err) {
            opts.revocations?.onError?.(err);
          }
        },
      })
    : undefined;

  return {
    ready: feed?.ready ?? Promise.resolve(),
    async verify(token, { scopes = [] } = {}) {
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, jwks, {
          issuer: opts.issuer,
          audience: opts.audience,
          typ: 'at+jwt',
          algorithms,
          clockTolerance: opts.clockTolerance ?? 0,
          requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'tid'],
        }));
      } catch (err) {
        throw new TokenError(401, 'invalid_token', err instanceof joseErrors.JWTExpired ? 'the access token has expired' : 'the access token is not valid for this API');
      }
      const tenantId = String(claims.tid ?? '');
      if (opts.tenants !== 'any' && !opts.tenants.includes(tenantId)) throw new TokenError(401, 'invalid_token', 'the access token is for another tenant');
      // A sender-constrained (DPoP) token presented as a plain bearer token is refused: its proof isn't here (CHECKLIST 34).
      if (claims.cnf !== undefined) throw new TokenError(401, 'invalid_token', 'a sender-constrained token needs its proof of possession');
      const revoked = revokedAt.get(`${tenantId} ${claims.sub}`);
      if (revoked !== undefined && claims.iat! <= revoked) throw new TokenError(401, 'invalid_token', 'the access token has been revoked');
      const granted = new Set(String(claims.scope ?? '').split(' ').filter(Boolean));
      const missing = scopes.filter((s) => !granted.has(s));
      if (missing.length) throw new TokenError(403, 'insufficient_scope', `this request requires ${missing.join(' ')}`, scopes);
      return { sub: claims.sub!, clientId: String(claims.client_id), tenantId, scopes: granted, claims };
    },
    async close() {
      await feed?.close();
    },
  };
}
