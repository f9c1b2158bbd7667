import type { Database, Tx } from '../db/client.ts';
import { randomBytes } from 'node:crypto';
import { ALL_CAPABILITY_IDS } from '../catalogue/index.ts';
import { notFound, unprocessable } from '../errors/index.ts';
import {
  deleteClient,
  findTenantClient,
  insertClient,
  listClientRoles,
  listClientsPage,
  setClientDisabled,
  updateClient,
  updateClientSecretHash,
  type ClientPatch,
  type ClientRoleRow,
  type ClientRow,
} from '../queries/clients.ts';
import { isCapability } from '../catalogue/closure.ts';
import type { AuditLog } from './audit.ts';
import type { SessionService } from './sessions.ts';
import { assertDominates, assertHolds, missingFrom, type Access } from './authority.ts';
import type { TenantChange } from './change.ts';
import { generateClientSecret, hashClientSecret } from './credentials.ts';

export type ClientType = ClientRow['type'];

export interface CreateClientInput {
  name: string;
  type: ClientType;
  id?: string;
  secret?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  firstParty?: boolean;
  allowedScopes?: string[] | null;
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  jwks?: { keys: unknown[] };
  /** The ID-token algorithm the client registers; unset means RS256. */
  idTokenSignedResponseAlg?: string | null;
  /** OIDC Back-Channel Logout: https (or loopback http), no fragment. */
  backchannelLogoutUri?: string | null;
}

/** What an admin may change; the type is fixed at creation because it decides the grants. */
export interface UpdateClientInput {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  firstParty?: boolean;
  allowedScopes?: string[] | null;
  idTokenSignedResponseAlg?: string | null;
  backchannelLogoutUri?: string | null;
}

/** The secret is returned once, here, and only its hash is stored. */
export interface CreatedClient {
  client: ClientRow;
  secret: string | null;
}

export interface ClientPage {
  rows: (ClientRow & { sortKey: string })[];
  limit: number;
}

const CONFIDENTIAL: ReadonlySet<ClientType> = new Set(['web', 'service']);
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
// Schemes that run code or read local files in a browser; never a redirect target, even for native apps.
const DANGEROUS_SCHEMES: ReadonlySet<string> = new Set(['http:', 'javascript:', 'data:', 'file:', 'vbscript:', 'blob:']);

const badRedirect = (uri: string, why: string) => unprocessable('invalid_redirect_uri', `${why}: ${uri}`, { uri });

/** https anywhere; plain http only on loopback (RFC 8252 §7.3); custom schemes only for native apps (§7.1). */
function checkRedirect(type: ClientType, uri: string): void {
  const parsed = URL.parse(uri);
  if (!parsed || uri.includes('#')) throw badRedirect(uri, 'not an absolute URI without fragment');
  if (parsed.protocol === 'https:') return;
  if (parsed.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname)) return;
  if (type === 'native' && !DANGEROUS_SCHEMES.has(parsed.protocol)) return;
  throw badRedirect(uri, 'https is required except for loopback (and custom schemes for native apps)');
}

function validateRedirects(type: ClientType, uris: string[], postLogout: string[]): void {
  if (type === 'service') {
    if (uris.length || postLogout.length) throw unprocessable('invalid_redirect_uri', 'service clients have no redirect URIs');
    return;
  }
  if (!uris.length) throw unprocessable('invalid_redirect_uri', 'at least one redirect URI is required');
  for (const uri of [...uris, ...postLogout]) checkRedirect(type, uri);
}

/** A back-channel logout URI: https, or http on loopback (like redirect URIs), never for a service client. */
function validateBackchannel(type: ClientType, uri: string | null | undefined): void {
  if (uri == null) return;
  if (type === 'service') throw unprocessable('invalid_backchannel_logout_uri', 'service clients have no sessions to log out');
  const parsed = URL.parse(uri);
  if (!parsed || uri.includes('#') || !(parsed.protocol === 'https:' || (parsed.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname)))) {
    throw unprocessable('invalid_backchannel_logout_uri', `https is required except for loopback: ${uri}`, { uri });
  }
}

function validateScopes(scopes: string[] | null | undefined): void {
  const unknown = (scopes ?? []).filter((s) => !isCapability(s));
  if (unknown.length) throw unprocessable('unknown_capability', `unknown capabilities: ${unknown.join(', ')}`, { capabilities: unknown });
}

/** The audited settings of a client: everything but secrets. */
const settings = (c: ClientRow) => ({
  name: c.name,
  redirect_uris: c.redirectUris,
  post_logout_redirect_uris: c.postLogoutRedirectUris,
  first_party: c.firstParty,
  allowed_scopes: c.allowedScopes,
  id_token_signed_response_alg: c.idTokenSignedResponseAlg,
  backchannel_logout_uri: c.backchannelLogoutUri,
});

const target = (id: string) => ({ type: 'application', id });

/** A first-party application skips consent, so what it may obtain for a signing-in user is part of its reach. */
const skipsConsent = (c: { type: ClientType; firstParty: boolean }) => c.firstParty && c.type !== 'service';

/**
 * SPEC §4, applications can't reach further than their admin: a first-party
 * application's allowed scopes default to the actor's authority (`null`,
 * meaning every capability, only for an actor that holds every one) and must
 * stay within it.
 */
function firstPartyScopes(access: Access, requested: string[] | null): string[] | null {
  const scopes = requested ?? (missingFrom(access, ALL_CAPABILITY_IDS).length ? [...access.held].sort() : null);
  assertHolds(access, scopes ?? ALL_CAPABILITY_IDS, 'let a first-party application obtain these capabilities');
  return scopes;
}

/** Applications (OIDC clients) of one tenant. Ids of other tenants read as unknown (404). */
export function createClientService(deps: {
  change: TenantChange;
  audit: AuditLog;
  db: Database;
  sessions: Pick<SessionService, 'recordRevocation' | 'afterRevocation'>;
  /** The algorithms Tessera keeps a signing key for (services/signingKeys.ts signingAlgs). */
  idTokenAlgs?: readonly string[];
}) {
  const { change, audit, sessions } = deps;
  const idTokenAlgs = deps.idTokenAlgs ?? ['RS256'];
  /** A client may register only an algorithm Tessera has an active key for, or it could never get an ID token. */
  const checkIdTokenAlg = (alg: string | null | undefined) => {
    if (alg != null && !idTokenAlgs.includes(alg)) {
      throw unprocessable('unsupported_id_token_alg', `id_token_signed_response_alg must be one of ${idTokenAlgs.join(', ')}`, { supported: idTokenAlgs });
    }
  };

  async function requireClient(tx: Tx, tenantId: string, id: string, lock = false): Promise<ClientRow> {
    const client = await findTenantClient(tx, tenantId, id, lock);
    if (!client) throw notFound('application');
    return client;
  }

  /** The client an operation targets, locked, after the dominance rule (SPEC §4): 404, then 403. */
  async function requireTarget(tx: Tx, access: Access, id: string, what: string): Promise<ClientRow> {
    const client = await requireClient(tx, access.tenantId, id, true);
    const reach = skipsConsent(client) ? new Map([[client.id, client.allowedScopes]]) : undefined;
    await assertDominates(tx, access, { type: 'client', id }, what, reach);
    return client;
  }

  return {
    async create(access: Access, input: CreateClientInput): Promise<CreatedClient> {
      const { tenantId, actor } = access;
      const redirectUris = input.redirectUris ?? [];
      const postLogoutRedirectUris = input.postLogoutRedirectUris ?? [];
      validateRedirects(input.type, redirectUris, postLogoutRedirectUris);
      validateScopes(input.allowedScopes);
      checkIdTokenAlg(input.idTokenSignedResponseAlg);
      validateBackchannel(input.type, input.backchannelLogoutUri);
      const authMethod = CONFIDENTIAL.has(input.type) ? (input.tokenEndpointAuthMethod ?? 'client_secret_basic') : 'none';
      const secret = authMethod.startsWith('client_secret') ? (input.secret ?? generateClientSecret()) : null;
      const allowedScopes = skipsConsent({ type: input.type, firstParty: input.firstParty ?? false }) ? firstPartyScopes(access, input.allowedScopes ?? null) : (input.allowedScopes ?? null);
      return change(tenantId, async (tx) => {
        const client = await insertClient(tx, {
          id: input.id ?? `tsr_${randomBytes(12).toString('base64url')}`,
          tenantId,
          name: input.name,
          type: input.type,
          firstParty: input.firstParty ?? false,
          secretHash: secret ? hashClientSecret(secret) : null,
          tokenEndpointAuthMethod: authMethod,
          redirectUris,
          postLogoutRedirectUris,
          allowedScopes,
          idTokenSignedResponseAlg: input.idTokenSignedResponseAlg ?? null,
          backchannelLogoutUri: input.backchannelLogoutUri ?? null,
          jwks: input.jwks ? JSON.stringify(input.jwks) : null,
        });
        await audit.record(tx, tenantId, { actor, action: 'application.created', target: target(client.id), data: { type: client.type, ...settings(client) } });
        return { client, secret };
      });
    },

    /** One page in creation order, fetched with one extra row to tell whether more follow. */
    async list({ tenantId }: Access, opts: { limit: number; after?: { k: string; id: string } | undefined }): Promise<ClientPage> {
      const rows = await change.read((tx) => listClientsPage(tx, tenantId, opts.after, opts.limit + 1));
      return { rows, limit: opts.limit };
    },

    async get({ tenantId }: Access, id: string): Promise<ClientRow> {
      return change.read((tx) => requireClient(tx, tenantId, id));
    },

    async update(access: Access, id: string, input: UpdateClientInput): Promise<ClientRow> {
      const { tenantId, actor } = access;
      validateScopes(input.allowedScopes);
      checkIdTokenAlg(input.idTokenSignedResponseAlg);
      return change(tenantId, async (tx) => {
        const before = await requireTarget(tx, access, id, 'edit this application');
        validateRedirects(before.type, input.redirectUris ?? before.redirectUris, input.postLogoutRedirectUris ?? before.postLogoutRedirectUris);
        validateBackchannel(before.type, input.backchannelLogoutUri);
        const firstParty = input.firstParty ?? before.firstParty;
        const requested = input.allowedScopes !== undefined ? input.allowedScopes : before.allowedScopes;
        // The editor becomes the admin whose authority bounds the application (SPEC §4).
        const allowedScopes = skipsConsent({ type: before.type, firstParty }) ? firstPartyScopes(access, requested) : requested;
        const patch: ClientPatch = {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.redirectUris !== undefined ? { redirectUris: input.redirectUris } : {}),
          ...(input.postLogoutRedirectUris !== undefined ? { postLogoutRedirectUris: input.postLogoutRedirectUris } : {}),
          ...(input.firstParty !== undefined ? { firstParty: input.firstParty } : {}),
          ...(allowedScopes !== before.allowedScopes ? { allowedScopes } : {}),
          ...(input.idTokenSignedResponseAlg !== undefined ? { idTokenSignedResponseAlg: input.idTokenSignedResponseAlg } : {}),
          ...(input.backchannelLogoutUri !== undefined ? { backchannelLogoutUri: input.backchannelLogoutUri } : {}),
        };
        const after = await updateClient(tx, id, patch);
        await audit.record(tx, tenantId, { actor, action: 'application.updated', target: target(id), data: { before: settings(before), after: settings(after) } });
        return after;
      });
    },

    async remove(access: Access, id: string): Promise<void> {
      const { tenantId, actor } = access;
      const at = new Date();
      await change(tenantId, async (tx) => {
        const client = await requireTarget(tx, access, id, 'delete this application');
        await sessions.recordRevocation(tx, access, { type: 'client', id }, at, 'deleted');
        const roles = await listClientRoles(tx, id);
        await deleteClient(tx, id);
        await audit.record(tx, tenantId, {
          actor,
          action: 'application.deleted',
          target: target(id),
          data: { type: client.type, ...settings(client), prior_roles: roles.map((r) => r.slug) },
        });
      });
      await sessions.afterRevocation(tenantId, id, at, 'client');
    },

    /** A new secret, shown once; the old one stops working as soon as this returns. */
    async rotateSecret(access: Access, clientId: string): Promise<string> {
      const { tenantId, actor } = access;
      const secret = generateClientSecret();
      await change(tenantId, async (tx) => {
        const client = await requireTarget(tx, access, clientId, 'rotate this application’s secret');
        if (!client.secretHash) throw unprocessable('no_secret', 'this application does not use a client secret');
        await updateClientSecretHash(tx, clientId, hashClientSecret(secret));
        await audit.record(tx, tenantId, { actor, action: 'application.secret_rotated', target: target(clientId) });
      });
      return secret;
    },

    /** Disables or re-enables a client; repeating the current state changes and records nothing. */
    async setDisabled(access: Access, clientId: string, disabled: boolean): Promise<ClientRow> {
      const { tenantId, actor } = access;
      const at = new Date();
      let revoked = false;
      const out = await change(tenantId, async (tx) => {
        const client = await requireTarget(tx, access, clientId, disabled ? 'disable this application' : 're-enable this application');
        if (client.disabled === disabled) return client;
        const after = (await setClientDisabled(tx, clientId, disabled))!;
        await audit.record(tx, tenantId, { actor, action: disabled ? 'application.disabled' : 'application.enabled', target: target(clientId) });
        // Disabling takes the same revocation path as a revoke-all: its tokens issued until now stay refused after re-enabling.
        if (disabled) {
          await sessions.recordRevocation(tx, access, { type: 'client', id: clientId }, at, 'disabled');
          revoked = true;
        }
        return after;
      });
      if (revoked) await sessions.afterRevocation(tenantId, clientId, at, 'client');
      return out;
    },

    /** Roles assigned directly to the client. */
    async roles({ tenantId }: Access, clientId: string): Promise<ClientRoleRow[]> {
      return change.read(async (tx) => {
        await requireClient(tx, tenantId, clientId);
        return listClientRoles(tx, clientId);
      });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
