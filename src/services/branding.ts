import type { Database } from '../db/client.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';
import { findTenantById } from '../queries/tenants.ts';

/** How a tenant's sign-in pages look. */
export interface Branding {
  displayName: string;
  logoUrl: string | null;
  accentColor: string | null;
}

export const DEFAULT_BRANDING: Branding = { displayName: 'Tessera', logoUrl: null, accentColor: null };

/** Tenant branding for the sign-in pages, cached until the tenant changes. */
export function createBrandingLookup(deps: { db: Database; versions: TenantVersions }) {
  const cache = new VersionedCache<Branding>(1_000);
  return {
    async forTenant(tenantId: string | undefined): Promise<Branding> {
      if (!tenantId) return DEFAULT_BRANDING;
      const version = await deps.versions.current(tenantId);
      let hit = cache.get(tenantId, version);
      if (!hit) {
        const t = await findTenantById(deps.db, tenantId);
        hit = t ? { displayName: t.displayName, logoUrl: t.logoUrl, accentColor: t.accentColor } : DEFAULT_BRANDING;
        cache.set(tenantId, version, hit);
      }
      return hit;
    },
  };
}

export type BrandingLookup = ReturnType<typeof createBrandingLookup>;
