import type { Account, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/client.ts';
import { VersionedCache, type TenantVersions } from '../cache/tenantVersions.ts';
import { findUserById, type UserRow } from '../queries/users.ts';
import { failClosed } from './errors.ts';
import type { Revocations } from '../sessions/revocations.ts';

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

/** When what the provider is about to honour was issued: a grant source, or else the session's sign-in. */
function issuedAt(ctx: KoaContextWithOIDC, source: unknown): number | undefined {
  const s = source as { iiat?: number; iat?: number } | undefined;
  return s?.iiat ?? s?.iat ?? ctx.oidc.session?.loginTs;
}

/**
 * oidc-provider's findAccount. A user exists only inside the tenant of the
 * client asking; a suspended user is treated as gone (every refresh fails
 * with invalid_grant); and anything issued at or before the user's revocation
 * time (a refresh token chain, a code, a session) is refused too. Revoke-all
 * also deletes those from Redis; this check is what holds when Redis loses
 * that deletion (a failover), because the revocation time lives in Postgres.
 */
export function createFindAccount(accounts: AccountDirectory, revocations: Revocations, versions: TenantVersions, onError?: (e: unknown) => void): FindAccount {
  return (ctx: KoaContextWithOIDC, sub: string, source?: unknown) =>
    failClosed(async () => {
      const tenantId = (ctx.oidc.client as unknown as { tenant_id?: string } | undefined)?.tenant_id;
      if (!tenantId) return undefined;
      // Both reads go out together (auto-pipelining): one round trip.
      const [user, revokedAt] = await Promise.all([accounts.load(tenantId, sub), revocations.revokedAt(tenantId, sub)]);
      if (user?.status !== 'active') return undefined;
      const issued = issuedAt(ctx, source);
      if (revokedAt && (issued === undefined || issued <= revokedAt)) return undefined;
      // At the token endpoint the user's entitlement is computed next (resources.ts): its version read goes
      // out now, in the same round trip as the grant's next Redis command (a refresh token's consume),
      // instead of one of its own after it. Read after the request arrived, so SPEC §6 still holds.
      if (ctx.oidc.route === 'token') versions.prefetch(tenantId, { kind: 'user', id: user.id });
      return toAccount(user);
    }, onError);
}
