import type { Adapter, AdapterPayload, ClientMetadata } from 'oidc-provider';
import type { Database } from '../db/client.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';
import { findClientById, type ClientRow } from '../queries/clients.ts';
import { failClosed } from './errors.ts';

/** Client metadata Tessera adds on top of the OIDC registry; snake_case keys stay as-is on the Client. */
export const EXTRA_CLIENT_METADATA = ['tenant_id', 'first_party', 'client_type', 'allowed_capabilities'] as const;

export interface TesseraClientFields {
  tenant_id: string;
  first_party: boolean;
  client_type: ClientRow['type'];
  allowed_capabilities: string[] | null;
}

/** Maps a stored client to oidc-provider metadata. The secret field holds the hash (see provider.ts). */
export function toClientMetadata(row: ClientRow): ClientMetadata & TesseraClientFields {
  const isService = row.type === 'service';
  return {
    client_id: row.id,
    client_name: row.name,
    ...(row.secretHash ? { client_secret: row.secretHash } : {}),
    token_endpoint_auth_method: row.tokenEndpointAuthMethod as ClientMetadata['token_endpoint_auth_method'],
    application_type: row.type === 'native' ? 'native' : 'web',
    grant_types: isService ? ['client_credentials'] : ['authorization_code', 'refresh_token'],
    response_types: isService ? [] : ['code'],
    redirect_uris: row.redirectUris,
    post_logout_redirect_uris: row.postLogoutRedirectUris,
    ...(row.backchannelLogoutUri ? { backchannel_logout_uri: row.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    ...(row.jwks ? { jwks: JSON.parse(row.jwks) } : {}),
    ...(row.idTokenSignedResponseAlg ? { id_token_signed_response_alg: row.idTokenSignedResponseAlg as ClientMetadata['id_token_signed_response_alg'] } : {}),
    tenant_id: row.tenantId,
    first_party: row.firstParty,
    client_type: row.type,
    allowed_capabilities: row.allowedScopes,
  };
}

export interface ClientDirectory {
  /** Metadata for a client id, or undefined when unknown or disabled. */
  find(clientId: string): Promise<(ClientMetadata & TesseraClientFields) | undefined>;
}

/**
 * Client lookups from Postgres, cached per process and stamped with the
 * tenant version, so a disabled or rotated client takes effect on the next request.
 */
export function createClientDirectory(deps: { db: Database; versions: TenantVersions }): ClientDirectory {
  const cache = new VersionedCache<ReturnType<typeof toClientMetadata> | null>(10_000);
  const tenantOf = new Map<string, string>();
  return {
    async find(clientId) {
      const knownTenant = tenantOf.get(clientId);
      let version: string | undefined;
      if (knownTenant) {
        // The client is also the subject of a client-credentials grant: its own version comes in the same read.
        version = deps.versions.settled(knownTenant) ?? (await deps.versions.current(knownTenant, { kind: 'client', id: clientId }));
        const hit = cache.get(clientId, version);
        if (hit !== undefined) return hit ?? undefined;
      }
      let row = await findClientById(deps.db, clientId);
      if (row && (row.tenantId !== knownTenant || version === undefined)) {
        // A row must be read after the version it is stamped with, or a change committed
        // between the two reads would be cached as current. First sighting: read again.
        version = await deps.versions.current(row.tenantId);
        row = await findClientById(deps.db, clientId);
      }
      if (!row || version === undefined) return undefined;
      const meta = row.disabled ? null : toClientMetadata(row);
      tenantOf.set(clientId, row.tenantId);
      cache.set(clientId, version, meta);
      return meta ?? undefined;
    },
  };
}

/** The read-only adapter oidc-provider uses for the Client model. */
export function createClientAdapter(directory: ClientDirectory, onError?: (e: unknown) => void): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed through Tessera, not the provider');
  };
  return {
    find: (id: string) => failClosed(() => directory.find(id), onError) as Promise<AdapterPayload | undefined>,
    upsert: readOnly,
    destroy: readOnly,
    consume: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    revokeByGrantId: readOnly,
  };
}
