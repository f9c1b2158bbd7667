import type { Database } from '../db/client.ts';
import type { RoleService } from './roles.ts';
import { randomBytes } from 'node:crypto';
import { badRequest, notFound } from '../errors/index.ts';
import { findClientById, insertClient, setClientDisabled, updateClientSecretHash, type ClientRow } from '../queries/clients.ts';
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

/** The secret is returned once, here, and only its hash is stored. */
export interface CreatedClient {
  client: ClientRow;
  secret: string | null;
}

const CONFIDENTIAL: ReadonlySet<ClientType> = new Set(['web', 'service']);

function validateRedirects(type: ClientType, uris: string[]): void {
  if (type === 'service') {
    if (uris.length) throw badRequest('invalid_redirect_uri', 'service clients have no redirect URIs');
    return;
  }
  if (!uris.length) throw badRequest('invalid_redirect_uri', 'at least one redirect URI is required');
  for (const uri of uris) {
    const parsed = URL.parse(uri);
    if (!parsed || parsed.hash) throw badRequest('invalid_redirect_uri', `not an absolute URI without fragment: ${uri}`);
  }
}

/** Applications (OIDC clients) of one tenant. */
export function createClientService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService }) {
  const { change, audit } = deps;
  return {
    async create(tenantId: string, actor: Actor, input: CreateClientInput): Promise<CreatedClient> {
      const redirectUris = input.redirectUris ?? [];
      validateRedirects(input.type, redirectUris);
      const unknown = (input.allowedScopes ?? []).filter((s) => !isCapability(s));
      if (unknown.length) throw badRequest('unknown_capability', `unknown capabilities: ${unknown.join(', ')}`);
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
          postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
          allowedScopes: input.allowedScopes ?? null,
          jwks: input.jwks ? JSON.stringify(input.jwks) : null,
        });
        await audit.record(tx, tenantId, {
          actor,
          action: 'application.created',
          target: { type: 'application', id: client.id },
          data: { name: client.name, type: client.type, redirect_uris: redirectUris },
        });
        return { client, secret };
      });
    },

    async rotateSecret(tenantId: string, actor: Actor, clientId: string): Promise<string> {
      const secret = generateClientSecret();
      await change(tenantId, async (tx) => {
        const client = await findClientById(tx, clientId);
        if (!client || client.tenantId !== tenantId) throw notFound('application');
        if (!client.secretHash) throw badRequest('no_secret', 'this application does not use a client secret');
        await updateClientSecretHash(tx, clientId, hashClientSecret(secret));
        await audit.record(tx, tenantId, { actor, action: 'application.secret_rotated', target: { type: 'application', id: clientId } });
      });
      return secret;
    },

    async setDisabled(tenantId: string, actor: Actor, clientId: string, disabled: boolean): Promise<void> {
      await change(tenantId, async (tx) => {
        const client = await findClientById(tx, clientId);
        if (!client || client.tenantId !== tenantId) throw notFound('application');
        await setClientDisabled(tx, clientId, disabled);
        await audit.record(tx, tenantId, {
          actor,
          action: disabled ? 'application.disabled' : 'application.enabled',
          target: { type: 'application', id: clientId },
        });
      });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
