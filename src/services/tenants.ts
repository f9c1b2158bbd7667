import { notFound, unprocessable } from '../errors/index.ts';
import { findTenantById, lockTenant, updateTenantBranding, type BrandingPatch, type TenantRow } from '../queries/tenants.ts';
import type { AuditLog } from './audit.ts';
import type { Access } from './authority.ts';
import type { TenantChange } from './change.ts';

/** A tenant's sign-in page branding, in API field names. */
export interface BrandingView {
  display_name: string;
  logo_url: string | null;
  accent_color: string | null;
}

export interface BrandingInput {
  displayName?: string;
  logoUrl?: string | null;
  accentColor?: string | null;
}

/** The shapes the sign-in layout renders (views/layout.ts); the admin API and the console both pass through here. */
function validateBranding(input: BrandingInput): void {
  if (input.displayName !== undefined && (input.displayName.trim().length < 1 || input.displayName.length > 100)) {
    throw unprocessable('invalid_display_name', 'the display name must be 1 to 100 characters');
  }
  if (input.logoUrl != null && (input.logoUrl.length > 2_000 || URL.parse(input.logoUrl)?.protocol !== 'https:')) {
    throw unprocessable('invalid_logo_url', 'the logo URL must be an https URL');
  }
  if (input.accentColor != null && !/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(input.accentColor)) {
    throw unprocessable('invalid_accent_color', 'the accent colour must be #rgb or #rrggbb');
  }
}

const view = (t: TenantRow): BrandingView => ({ display_name: t.displayName, logo_url: t.logoUrl, accent_color: t.accentColor });

/**
 * Tenant settings. Branding goes through `change`, which bumps the tenant
 * version, so the sign-in pages' branding cache picks the new look up at once.
 */
export function createTenantService(deps: { change: TenantChange; audit: AuditLog }) {
  const { change, audit } = deps;
  return {
    async branding({ tenantId }: Access): Promise<BrandingView> {
      const tenant = await change.read((tx) => findTenantById(tx, tenantId));
      if (!tenant) throw notFound('tenant');
      return view(tenant);
    },

    async updateBranding({ tenantId, actor }: Access, input: BrandingInput): Promise<BrandingView> {
      validateBranding(input);
      const patch: BrandingPatch = {
        ...(input.displayName !== undefined ? { displayName: input.displayName } : {}),
        ...(input.logoUrl !== undefined ? { logoUrl: input.logoUrl } : {}),
        ...(input.accentColor !== undefined ? { accentColor: input.accentColor } : {}),
      };
      return change(tenantId, async (tx) => {
        const before = await lockTenant(tx, tenantId);
        if (!before) throw notFound('tenant');
        const after = await updateTenantBranding(tx, tenantId, patch);
        await audit.record(tx, tenantId, { actor, action: 'branding.updated', target: { type: 'tenant', id: tenantId }, data: { before: view(before), after: view(after) } });
        return view(after);
      });
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
