import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Config } from '../config/index.ts';
import { ALL_CAPABILITY_IDS, isCapability } from '../catalogue/index.ts';
import type { Database } from '../db/client.ts';
import type { EntitlementLoader } from '../entitlements/loader.ts';
import { grantableScopes } from '../entitlements/resolve.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';
import { findResourceServer, type ResourceServerRow } from '../queries/clients.ts';
import type { TesseraClientFields } from './clients.ts';
import { failClosed } from './errors.ts';

/** The standard OIDC scopes Tessera recognises besides capabilities. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;
const OIDC_SCOPE_SET: ReadonlySet<string> = new Set(OIDC_SCOPES);

const fields = (ctx: KoaContextWithOIDC) => ctx.oidc.client as unknown as TesseraClientFields;

/** Throws invalid_scope for a requested scope that is neither OIDC nor a catalogue capability. */
function rejectUnknownScopes(ctx: KoaContextWithOIDC): void {
  const requested = ctx.oidc.params?.scope;
  if (typeof requested !== 'string') return;
  for (const scope of requested.split(' ')) {
    if (scope && !OIDC_SCOPE_SET.has(scope) && !isCapability(scope)) {
      throw new errors.InvalidScope('requested scope is not recognised', scope);
    }
  }
}

/**
 * Resource-server policy: where scopes are computed. oidc-provider asks for a
 * resource server's `scope` at every issuance (code, refresh, client
 * credentials) and intersects the requested scopes with it, so answering with
 * the subject's entitlement at that moment gives scope-at-issuance and
 * down-scoping for free. Outside the token endpoint (authorization, consent)
 * the whole catalogue is offered so grants record what the client asked for.
 */
export function createResourcePolicy(deps: {
  config: Config;
  db: Database;
  versions: TenantVersions;
  entitlements: EntitlementLoader;
  onError?: (e: unknown) => void;
}) {
  const { config, entitlements } = deps;
  const registered = new VersionedCache<ResourceServerRow | null>(1_000);

  const apiServer = { format: 'jwt' as const, ttl: config.TESSERA_ACCESS_TOKEN_TTL };

  async function lookup(tenantId: string, indicator: string): Promise<{ format: 'jwt' | 'opaque'; ttl: number } | undefined> {
    const version = deps.versions.settled(tenantId) ?? (await deps.versions.current(tenantId));
    const key = `${tenantId} ${indicator}`;
    let row = registered.get(key, version);
    if (row === undefined) {
      row = (await findResourceServer(deps.db, tenantId, indicator)) ?? null;
      registered.set(key, version, row);
    }
    return row ? { format: row.accessTokenFormat, ttl: row.accessTokenTtl ?? config.TESSERA_ACCESS_TOKEN_TTL } : undefined;
  }

  function capabilitiesFor(ctx: KoaContextWithOIDC, client: TesseraClientFields): Promise<readonly string[]> | readonly string[] {
    const accountId = ctx.oidc.account?.accountId;
    if (accountId) return entitlements.capabilitiesOf(client.tenant_id, 'user', accountId);
    if (ctx.oidc.params?.grant_type === 'client_credentials') return entitlements.capabilitiesOf(client.tenant_id, 'client', ctx.oidc.client!.clientId);
    return [];
  }

  /**
   * The resource server's policy for this request. One async function with the
   * common cases inline (the admin API audience, a cached entitlement): this
   * runs on every token request, and every extra `await` costs promise hooks.
   */
  async function resourceServerInfo(ctx: KoaContextWithOIDC, indicator: string): Promise<ResourceServer> {
    const client = fields(ctx);
    const rs = indicator === config.apiAudience ? apiServer : await lookup(client.tenant_id, indicator);
    if (!rs) throw new errors.InvalidTarget('unknown resource indicator');
    if (ctx.oidc.route !== 'token') return answer(rs, indicator, grantableScopes(ALL_CAPABILITY_IDS, client.allowed_capabilities));
    const entitled = await capabilitiesFor(ctx, client);
    const params = ctx.oidc.params ?? {};
    if (params.grant_type !== 'client_credentials') return answer(rs, indicator, grantableScopes(entitled, client.allowed_capabilities));
    if (typeof params.scope === 'string' && params.scope) {
      // The grant intersects the requested scopes with this answer next. Answering with only the
      // requested ones the client is entitled to gives the same token without writing out (and
      // oidc-provider splitting and hashing) a whole entitlement that can be the entire catalogue.
      return answer(rs, indicator, grantableScopes(params.scope.split(' ').filter((c) => entitled.includes(c)), client.allowed_capabilities));
    }
    // Client credentials without `scope` means "everything I am entitled to"; the grant
    // reads the requested scope right after resolving resources, so set it here.
    const scope = grantableScopes(entitled, client.allowed_capabilities);
    params.scope = scope.join(' ') || undefined;
    return answer(rs, indicator, scope);
  }

  function answer(rs: { format: 'jwt' | 'opaque'; ttl: number }, indicator: string, scope: string[]): ResourceServer {
    return {
      scope: scope.join(' '),
      audience: indicator,
      accessTokenTTL: rs.ttl,
      accessTokenFormat: rs.format,
      ...(rs.format === 'jwt' ? { jwt: { sign: { alg: config.TESSERA_SIGNING_ALG } } } : {}),
    };
  }

  return {
    /** Without a `resource` parameter tokens are for the admin API audience. */
    async defaultResource(_ctx: KoaContextWithOIDC, _client: unknown, oneOf?: string | readonly string[]) {
      if (typeof oneOf === 'string') return oneOf;
      if (oneOf?.length) return oneOf.includes(config.apiAudience) ? config.apiAudience : oneOf[0]!;
      return config.apiAudience;
    },

    /**
     * Capability scopes need an audience; a grant with none (plain OIDC sign-in)
     * keeps the default opaque token that works at userinfo.
     */
    async useGrantedResource(_ctx: KoaContextWithOIDC, model: { scopes: Set<string> }) {
      for (const scope of model.scopes) if (!OIDC_SCOPE_SET.has(scope)) return true;
      return false;
    },

    getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string): Promise<ResourceServer> {
      try {
        rejectUnknownScopes(ctx);
      } catch (e) {
        return Promise.reject(e);
      }
      return failClosed(resourceServerInfo(ctx, indicator), deps.onError);
    },

    /** Claims every access token carries besides the RFC 9068 set. */
    extraTokenClaims(ctx: KoaContextWithOIDC, token: { accountId?: string; sid?: string }) {
      const claims: Record<string, unknown> = { tid: fields(ctx).tenant_id };
      if (token.accountId) {
        const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
        if (token.sid) claims.sid = token.sid;
        if (source?.authTime) claims.auth_time = source.authTime;
        // The OIDC scopes of the grant, so the userinfo endpoint can answer for this JWT as Keycloak and
        // Auth0 do for theirs (oidc/userinfo.ts). `scope` itself keeps only the capabilities (SPEC §6).
        const oidcScope = ctx.oidc.entities.Grant?.getOIDCScope();
        if (oidcScope?.split(' ').includes('openid')) claims.oidc_scope = oidcScope;
      }
      return claims;
    },
  };
}

export type ResourcePolicy = ReturnType<typeof createResourcePolicy>;
