import type { Database, Tx } from '../db/client.ts';
import type { Access, RoleService } from './roles.ts';
import type { SessionService } from './sessions.ts';
import { randomUUID } from 'node:crypto';
import { explainEntitlement, groupChains } from '../entitlements/explain.ts';
import { resolveEntitlement } from '../entitlements/resolve.ts';
import { badRequest, conflict, notFound, unprocessable } from '../errors/index.ts';
import { loadTenantGraph, loadUserLinks } from '../queries/entitlements.ts';
import { countRoleHolders, findRoleBySlug, listRoles, lockOwners } from '../queries/roles.ts';
import {
  deleteAllUserMemberships,
  deleteAllUserRoles,
  deleteUser,
  findTenantUser,
  findUserByEmail,
  groupNames,
  insertUser,
  listUserDirectRoles,
  listUsers,
  updateUserPassword,
  updateUserProfile,
  updateUserStatus,
  type UserFilter,
  type UserRow,
} from '../queries/users.ts';
import type { Actor, AuditLog } from './audit.ts';
import type { TenantChange } from './change.ts';
import { hashPassword } from './credentials.ts';
import { assertHolds, OWNER } from './roles.ts';

export interface CreateUserInput {
  email: string;
  displayName?: string;
  password?: string;
}

/** The API shape of a user; never carries the password hash. */
export interface UserView {
  id: string;
  email: string;
  display_name: string;
  status: 'active' | 'suspended';
  created_at: string;
  updated_at: string;
}

export const userView = (u: UserRow): UserView => ({
  id: u.id,
  email: u.email,
  display_name: u.displayName,
  status: u.status,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
});

export type GroupRef = { id: string; name: string };
export type ExplainedPath = { type: 'direct'; role: string } | { type: 'group'; groups: GroupRef[]; role: string } | { type: 'dependency'; of: string };

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function validEmail(raw: string): string {
  const email = raw.trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw unprocessable('invalid_email', 'email is not a valid address');
  return email;
}

const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; cause?: { code?: string } };
  return err.code === '23505' || err.cause?.code === '23505';
};
const emailTaken = () => conflict('email_taken', 'a user with this email already exists (emails are compared ignoring case)');

/** Users (SPEC §2, §5, §7): profile, status, passwords, access. Every change is audited in its transaction. */
export function createUserService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService; sessions: SessionService }) {
  const { change, audit, roles, sessions } = deps;

  /** 404 for a missing user and for a user of another tenant alike, so ids can't be probed. */
  async function requireUser(tx: Tx, tenantId: string, id: string): Promise<UserRow> {
    const user = await findTenantUser(tx, tenantId, id);
    if (!user) throw notFound('user');
    return user;
  }

  /**
   * Runs a change that may take away Owner, under the owners lock. The
   * last_owner check runs only when the tenant had an Owner user before, so a
   * tenant that already lost its last one is not frozen by unrelated changes.
   */
  async function guardingOwners<T>(tx: Tx, tenantId: string, fn: () => Promise<T>): Promise<T> {
    await lockOwners(tx, tenantId);
    const owner = await findRoleBySlug(tx, tenantId, OWNER);
    const before = owner ? await countRoleHolders(tx, tenantId, owner.id) : 0;
    const out = await fn();
    if (before > 0) await roles.assertOwnersRemain(tx, tenantId);
    return out;
  }

  async function setStatus(tenantId: string, actor: Actor, userId: string, status: 'active' | 'suspended'): Promise<UserRow> {
    const at = new Date();
    let revoked = false;
    const user = await change(tenantId, (tx) =>
      guardingOwners(tx, tenantId, async () => {
        const current = await requireUser(tx, tenantId, userId);
        // Idempotent: asking for the status the user already has changes and records nothing.
        if (current.status === status) return current;
        const updated = (await updateUserStatus(tx, userId, status))!;
        if (status === 'suspended') {
          // Suspension is a revoke-all: sessions, grants and refresh tokens go, and tokens issued up to now die.
          await sessions.recordRevokeAll(tx, tenantId, actor, userId, at, 'suspended');
          revoked = true;
        }
        await audit.record(tx, tenantId, { actor, action: status === 'suspended' ? 'user.suspended' : 'user.unsuspended', target: { type: 'user', id: userId } });
        return updated;
      }),
    );
    if (revoked) await sessions.afterRevocation(tenantId, userId, at);
    return user;
  }

  return {
    async create(tenantId: string, actor: Actor, input: CreateUserInput): Promise<UserRow> {
      const email = validEmail(input.email);
      const passwordHash = input.password ? await hashPassword(input.password) : null;
      return change(tenantId, async (tx) => {
        if (await findUserByEmail(tx, tenantId, email)) throw emailTaken();
        let user: UserRow;
        try {
          user = await insertUser(tx, { id: randomUUID(), tenantId, email, displayName: input.displayName?.trim() || email.split('@')[0]!, passwordHash });
        } catch (e) {
          // A concurrent create with the same email got in between the check and the insert.
          if (isUniqueViolation(e)) throw emailTaken();
          throw e;
        }
        await audit.record(tx, tenantId, { actor, action: 'user.created', target: { type: 'user', id: user.id }, data: { email } });
        return user;
      });
    },

    /** One page of users after `after` ({createdAt, id} from a previous page's last row). */
    async list(tenantId: string, filter: UserFilter, after: { k: string; id: string } | undefined, limit: number) {
      if (after && (!TIMESTAMP.test(after.k) || !UUID.test(after.id))) throw badRequest('invalid_cursor', 'the cursor is not one this API issued');
      return change.read((tx) => listUsers(tx, tenantId, filter, after && { createdAt: after.k, id: after.id }, limit));
    },

    async get(tenantId: string, userId: string): Promise<UserRow> {
      return change.read((tx) => requireUser(tx, tenantId, userId));
    },

    async update(tenantId: string, actor: Actor, userId: string, patch: { email?: string | undefined; displayName?: string | undefined }): Promise<UserRow> {
      const email = patch.email === undefined ? undefined : validEmail(patch.email);
      const displayName = patch.displayName?.trim();
      if (displayName === '') throw unprocessable('invalid_display_name', 'display_name must not be blank');
      return change(tenantId, async (tx) => {
        const before = await requireUser(tx, tenantId, userId);
        if (email !== undefined) {
          const other = await findUserByEmail(tx, tenantId, email);
          if (other && other.id !== userId) throw emailTaken();
        }
        let after: UserRow;
        try {
          after = (await updateUserProfile(tx, userId, { ...(email !== undefined ? { email } : {}), ...(displayName !== undefined ? { displayName } : {}) }))!;
        } catch (e) {
          if (isUniqueViolation(e)) throw emailTaken();
          throw e;
        }
        const pick = (u: UserRow) => ({ email: u.email, display_name: u.displayName });
        await audit.record(tx, tenantId, { actor, action: 'user.updated', target: { type: 'user', id: userId }, data: { before: pick(before), after: pick(after) } });
        return after;
      });
    },

    /** Deletes a user; 409 last_owner when that would leave the tenant without an active Owner user. */
    async remove(tenantId: string, actor: Actor, userId: string): Promise<void> {
      await change(tenantId, (tx) =>
        guardingOwners(tx, tenantId, async () => {
          const user = await requireUser(tx, tenantId, userId);
          await deleteUser(tx, userId);
          await audit.record(tx, tenantId, { actor, action: 'user.deleted', target: { type: 'user', id: userId }, data: { email: user.email } });
        }),
      );
    },

    setStatus,
    suspend: (tenantId: string, actor: Actor, userId: string) => setStatus(tenantId, actor, userId, 'suspended'),
    unsuspend: (tenantId: string, actor: Actor, userId: string) => setStatus(tenantId, actor, userId, 'active'),

    async setPassword(tenantId: string, actor: Actor, userId: string, password: string): Promise<void> {
      const hash = await hashPassword(password);
      await change(tenantId, async (tx) => {
        await requireUser(tx, tenantId, userId);
        await updateUserPassword(tx, userId, hash);
        // The password itself is never recorded, not even hashed.
        await audit.record(tx, tenantId, { actor, action: 'user.password_reset', target: { type: 'user', id: userId } });
      });
    },

    /** Direct roles, roles through group chains (holder first), and the effective capabilities; expired assignments left out. */
    async roles(tenantId: string, userId: string) {
      const now = Date.now();
      return change.read(async (tx) => {
        await requireUser(tx, tenantId, userId);
        // Sequential: one transaction is one connection, which runs one query at a time anyway.
        const graph = await loadTenantGraph(tx, tenantId);
        const links = await loadUserLinks(tx, userId);
        const direct = await listUserDirectRoles(tx, userId);
        const roleRows = await listRoles(tx, tenantId);
        const roleById = new Map(roleRows.map((r) => [r.id, r]));
        const chains = groupChains(graph, links.groups, now);
        const names = await groupNames(tx, tenantId, [...new Set(chains.flatMap((c) => c.groups))]);
        return {
          direct: direct
            .filter((d) => !d.expiresAt || d.expiresAt.getTime() > now)
            .map((d) => ({ slug: d.slug, name: d.name, type: d.type, assigned_at: d.assignedAt.toISOString(), expires_at: iso(d.expiresAt) })),
          via_groups: chains.flatMap((c) => {
            const role = roleById.get(c.roleId);
            if (!role) return [];
            const path = [...c.groups].reverse().map((id) => ({ id, name: names.get(id) ?? '' }));
            return [{ slug: role.slug, name: role.name, type: role.type, group_path: path, expires_at: c.expiresAt === null ? null : new Date(c.expiresAt).toISOString() }];
          }),
          capabilities: [...resolveEntitlement(graph, links, now).capabilities],
        };
      });
    },

    /** Effective capabilities, each with every path that grants it when `explain` is set. */
    async capabilities(tenantId: string, userId: string, explain: boolean) {
      const now = Date.now();
      return change.read(async (tx) => {
        await requireUser(tx, tenantId, userId);
        const graph = await loadTenantGraph(tx, tenantId);
        const links = await loadUserLinks(tx, userId);
        if (!explain) return { capabilities: [...resolveEntitlement(graph, links, now).capabilities] };
        const explained = explainEntitlement(graph, links, now);
        const groupIds = new Set(explained.flatMap((c) => c.paths.flatMap((p) => (p.type === 'group' ? p.groups : []))));
        const roleRows = await listRoles(tx, tenantId);
        const names = await groupNames(tx, tenantId, [...groupIds]);
        const slugOf = new Map(roleRows.map((r) => [r.id, r.slug]));
        const shape = (p: (typeof explained)[number]['paths'][number]): ExplainedPath =>
          p.type === 'direct'
            ? { type: 'direct', role: slugOf.get(p.roleId) ?? p.roleId }
            : p.type === 'group'
              ? { type: 'group', groups: p.groups.map((id) => ({ id, name: names.get(id) ?? '' })), role: slugOf.get(p.roleId) ?? p.roleId }
              : { type: 'dependency', of: p.of };
        return { capabilities: explained.map((c) => ({ id: c.id, paths: c.paths.map(shape) })) };
      });
    },

    /**
     * Takes every direct role and every group membership away from a user.
     * The actor must hold every capability of each role removed (no escalation).
     */
    async removeAccess(access: Access, userId: string): Promise<{ roles_removed: string[]; groups_removed: string[] }> {
      const { tenantId } = access;
      return change(tenantId, (tx) =>
        guardingOwners(tx, tenantId, async () => {
          await requireUser(tx, tenantId, userId);
          const direct = await listUserDirectRoles(tx, userId);
          for (const role of direct) assertHolds(access, role.capabilities, `remove the role "${role.slug}"`);
          await deleteAllUserRoles(tx, userId);
          const groupsRemoved = await deleteAllUserMemberships(tx, userId);
          const rolesRemoved = direct.map((r) => r.slug);
          await audit.record(tx, tenantId, {
            actor: access.actor,
            action: 'user.access_removed',
            target: { type: 'user', id: userId },
            data: { roles: direct.map((r) => ({ slug: r.slug, assigned_at: r.assignedAt.toISOString(), expires_at: iso(r.expiresAt) })), groups: groupsRemoved },
          });
          return { roles_removed: rolesRemoved, groups_removed: groupsRemoved };
        }),
      );
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
