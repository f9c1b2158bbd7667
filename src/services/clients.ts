import type { Database, Tx } from '../db/client.ts';
import type { RoleService } from './roles.ts';
import { randomBytes } from 'node:crypto';
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
import type { Actor, AuditLog } from './audit.ts';
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
}

/** What an admin may change; the type is fixed at creation because it decides the grants. */
export interface UpdateClientInput {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  firstParty?: boolean;
  allowedScopes?: string[] | null;
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
});

const target = (id: string) => ({ type: 'application', id });

/** Applications (OIDC clients) of one tenant. Ids of other tenants read as unknown (404). */
export function createClientService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService }) {
  const { change, audit } = deps;

  async function requireClient(tx: Tx, tenantId: string, id: string, lock = false): Promise<ClientRow> {
    const client = await findTenantClient(tx, tenantId, id, lock);
    if (!client) throw notFound('application');
    return client;
  }

  return {
    async create(tenantId: string, actor: Actor, input: CreateClientInput): Promise<CreatedClient> {
      const redirectUris = input.redirectUris ?? [];
      const postLogoutRedirectUris = input.postLogoutRedirectUris ?? [];
      validateRedirects(input.type, redirectUris, postLogoutRedirectUris);
      validateScopes(input.allowedScopes);
      const authMethod = CONFIDENTIAL.has(input.type) ? (input.tokenEndpointAuthMethod ?? 'client_secret_basic') : 'none';
      const secret = authMethod.startsWith('client_secret') ? (input.secret ?? generateClientSecret()) : null;
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
          allowedScopes: input.allowedScopes ?? null,
          jwks: input.jwks ? JSON.stringify(input.jwks) : null,
        });
        await audit.record(tx, tenantId, { actor, action: 'application.created', target: target(client.id), data: { type: client.type, ...settings(client) } });
        return { client, secret };
      });
    },

    /** One page in creation order, fetched with one extra row to tell whether more follow. */
    async list(tenantId: string, opts: { limit: number; after?: { k: string; id: string } | undefined }): Promise<ClientPage> {
      const rows = await change.read((tx) => listClientsPage(tx, tenantId, opts.after, opts.limit + 1));
      return { rows, limit: opts.limit };
    },

    async get(tenantId: string, id: string): Promise<ClientRow> {
      return change.read((tx) => requireClient(tx, tenantId, id));
    },

    async update(tenantId: string, actor: Actor, id: string, input: UpdateClientInput): Promise<ClientRow> {
      validateScopes(input.allowedScopes);
      return change(tenantId, async (tx) => {
        const before = await requireClient(tx, tenantId, id, true);
        validateRedirects(before.type, input.redirectUris ?? before.redirectUris, input.postLogoutRedirectUris ?? before.postLogoutRedirectUris);
        const patch: ClientPatch = {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.redirectUris !== undefined ? { redirectUris: input.redirectUris } : {}),
          ...(input.postLogoutRedirectUris !== undefined ? { postLogoutRedirectUris: input.postLogoutRedirectUris } : {}),
          ...(input.firstParty !== undefined ? { firstParty: input.firstParty } : {}),
          ...(input.allowedScopes !== undefined ? { allowedScopes: input.allowedScopes } : {}),
        };
        const after = await updateClient(tx, id, patch);
        await audit.record(tx, tenantId, { actor, action: 'application.updated', target: target(id), data: { before: settings(before), after: settings(after) } });
        return after;
      });
    },

    async remove(tenantId: string, actor: Actor, id: string): Promise<void> {
      await change(tenantId, async (tx) => {
        const client = await requireClient(tx, tenantId, id, true);
        const roles = await listClientRoles(tx, id);
        await deleteClient(tx, id);
        await audit.record(tx, tenantId, {
          actor,
          action: 'application.deleted',
          target: target(id),
          data: { type: client.type, ...settings(client), prior_roles: roles.map((r) => r.slug) },
        });
      });
    },

    /** A new secret, shown once; the old one stops working as soon as this returns. */
    async rotateSecret(tenantId: string, actor: Actor, clientId: string): Promise<string> {
      const secret = generateClientSecret();
      await change(tenantId, async (tx) => {
        const client = await requireClient(tx, tenantId, clientId, true);
        if (!client.secretHash) throw unprocessable('no_secret', 'this application does not use a client secret');
        await updateClientSecretHash(tx, clientId, hashClientSecret(secret));
        await audit.record(tx, tenantId, { actor, action: 'application.secret_rotated', target: target(clientId) });
      });
      return secret;
    },

    /** Disables or re-enables a client; repeating the current state changes and records nothing. */
    async setDisabled(tenantId: string, actor: Actor, clientId: string, disabled: boolean): Promise<ClientRow> {
      return change(tenantId, async (tx) => {
        const client = await requireClient(tx, tenantId, clientId, true);
        if (client.disabled === disabled) return client;
        const after = (await setClientDisabled(tx, clientId, disabled))!;
        await audit.record(tx, tenantId, { actor, action: disabled ? 'application.disabled' : 'application.enabled', target: target(clientId) });
        return after;
      });
    },

    /** Roles assigned directly to the client. */
    async roles(tenantId: string, clientId: string): Promise<ClientRoleRow[]> {
      return change.read(async (tx) => {
        await requireClient(tx, tenantId, clientId);
        return listClientRoles(tx, clientId);
      });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
