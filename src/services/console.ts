import type { Database } from '../db/client.ts';
import { findClientById } from '../queries/clients.ts';
import { findTenantBySlug, listTenants, type TenantRow } from '../queries/tenants.ts';
import { systemAccess } from './authority.ts';
import type { createClientService } from './clients.ts';

/** The console's own client id in a tenant: stable, and recognisable in the applications list. */
export const consoleClientId = (tenantId: string) => `tessera-console-${tenantId}`;

/**
 * What the admin console needs beyond the admin services: which tenant a
 * sign-in is for, and its own registration as a client of Tessera (SPEC §13:
 * a first-party client of Tessera itself). The client is public (PKCE, no
 * secret to keep) with redirect URIs on the issuer's own origin, and is
 * registered on first use in each tenant, audited like any application.
 */
export function createConsoleService(deps: { db: Database; clients: ReturnType<typeof createClientService> }) {
  return {
    tenantBySlug: (slug: string): Promise<TenantRow | undefined> => findTenantBySlug(deps.db, slug),
    /** The tenant when there is exactly one: the console then needs no tenant name to sign in. */
    async onlyTenant(): Promise<TenantRow | undefined> {
      const rows = await listTenants(deps.db, 2);
      return rows.length === 1 ? rows[0] : undefined;
    },
    async ensureClient(tenantId: string, issuer: string): Promise<string> {
      const id = consoleClientId(tenantId);
      if (await findClientById(deps.db, id)) return id;
      await deps.clients
        .create(systemAccess(tenantId), {
          id,
          name: 'Tessera console',
          type: 'spa',
          firstParty: true,
          redirectUris: [`${issuer}/console/callback`],
          postLogoutRedirectUris: [`${issuer}/console`],
        })
        .catch(async (err: unknown) => {
          // Two first sign-ins at once: the other one registered it.
          if (!(await findClientById(deps.db, id))) throw err;
        });
      return id;
    },
  };
}

export type ConsoleService = ReturnType<typeof createConsoleService>;
