import type { Account, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/client.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';
import { findUserById, type UserRow } from '../queries/users.ts';
import { failClosed } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AccountDirectory {
  /** The user if it exists in `tenantId`, whatever its status; cached until the tenant changes. */
  load(tenantId: string, userId: string): Promise<UserRow | undefined>;
}

export function createAccountDirectory(deps: { db: Database; versions: TenantVersions }): AccountDirectory {
  const cache = new VersionedCache<UserRow | null>(50_000);
  return {
    async load(tenantId, userId) {
      if (!UUID.test(userId)) return undefined;
      const version = await deps.versions.current(tenantId);
      let hit = cache.get(userId, version);
      if (hit === undefined) {
        const row = await findUserById(deps.db, userId);
        hit = row && row.tenantId === tenantId ? row : null;
        cache.set(userId, version, hit);
      }
      return hit ?? undefined;
    },
  };
}

function toAccount(user: UserRow): Account {
  return {
    accountId: user.id,
    claims: () => ({ sub: user.id, email: user.email, email_verified: false, name: user.displayName }),
  };
}

/**
 * oidc-provider's findAccount. A user exists only inside the tenant of the
 * client asking, and a suspended user is treated as gone, which makes every
 * refresh for them fail with invalid_grant.
 */
export function createFindAccount(accounts: AccountDirectory, onError?: (e: unknown) => void): FindAccount {
  return (ctx: KoaContextWithOIDC, sub: string) =>
    failClosed(async () => {
      const tenantId = (ctx.oidc.client as unknown as { tenant_id?: string } | undefined)?.tenant_id;
      if (!tenantId) return undefined;
      const user = await accounts.load(tenantId, sub);
      return user?.status === 'active' ? toAccount(user) : undefined;
    }, onError);
}
