import type { Database, Tx } from '../db/client.ts';
import type { SessionService } from './sessions.ts';
import { randomUUID } from 'node:crypto';
import { explainEntitlement, groupChains } from '../entitlements/explain.ts';
import { resolveEntitlement, type TenantGraph } from '../entitlements/resolve.ts';
import { badRequest, conflict, notFound, unprocessable } from '../errors/index.ts';
import { loadTenantGraph, loadUserLinks } from '../queries/entitlements.ts';
import { listRoles } from '../queries/roles.ts';
import {
  deleteAllUserMemberships,
  deleteUser,
  findTenantUser,
  findUserByEmail,
  groupNames,
  insertUser,
  listUserDirectRoles,
  countUsers,
  listUserIds,
  listUsers,
  updateUserPassword,
  updateUserProfile,
  updateUserStatus,
  type UserFilter,
  type UserRow,
} from '../queries/users.ts';
import type { AuditLog } from './audit.ts';
import { guardingOwners, type AssignmentEngine } from './assignments.ts';
import { assertDominates, type Access } from './authority.ts';
import { subjectsScope, type TenantChange } from './change.ts';
import { hashPassword } from './credentials.ts';

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
export type ExplainedPath = { type: 'direct'; role: string } | { type: 'group'; groups: GroupRef[]; role: string; chains: number } | { type: 'dependency'; of: string };

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
export function createUserService(deps: {
  change: TenantChange;
  audit: AuditLog;
  db: Database;
  assignments: AssignmentEngine;
  sessions: SessionService;
  /** The tenant graph as of its current version, cached (entitlements/loader.ts); without it each read loads it. */
  tenantGraph?: (tenantId: string) => Promise<TenantGraph>;
}) {
  const { change, audit, assignments, sessions } = deps;

  /** 404 for a missing user and for a user of another tenant alike, so ids can't be probed. */
  async function requireUser(tx: Tx, tenantId: string, id: string): Promise<UserRow> {
    const user = await findTenantUser(tx, tenantId, id);
    if (!user) throw notFound('user');
    return user;
  }

  /** The user of the tenant that an operation targets, after the dominance rule (SPEC §4): 404, then 403. */
  async function requireTarget(tx: Tx, access: Access, id: string, what: string): Promise<UserRow> {
    const user = await requireUser(tx, access.tenantId, id);
    await assertDominates(tx, access, { type: 'user', id }, what);
    return user;
  }

  async function setStatus(access: Access, userId: string, status: 'active' | 'suspended'): Promise<UserRow> {
    const { tenantId, actor } = access;
    const at = new Date();
    let revoked = false;
    const user = await change(tenantId, (tx) =>
      guardingOwners(tx, tenantId, async () => {
        const current = await requireTarget(tx, access, userId, status === 'suspended' ? 'suspend this user' : 're-enable this user');
        // Idempotent: asking for the status the user already has changes and records nothing.
        if (current.status === status) return current;
        const updated = (await updateUserStatus(tx, userId, status))!;
        if (status === 'suspended') {
          // Suspension is a revoke-all: sessions, grants and refresh tokens go, and tokens issued up to now die.
          await sessions.recordRevokeAll(tx, access, userId, at, 'suspended');
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
    async create(access: Access, input: CreateUserInput): Promise<UserRow> {
      const { tenantId, actor } = access;
      const email = validEmail(input.email);
      const passwordHash = input.password ? await hashPassword(input.password) : null;
      const id = randomUUID();
      // A new user is a new subject: nothing any process cached can depend on it (its id was never seen),
      // so only its own version is bumped and the tenant's caches stay (services/change.ts).
      return change(tenantId, async (tx) => {
        if (await findUserByEmail(tx, tenantId, email)) throw emailTaken();
        let user: UserRow;
        try {
          user = await insertUser(tx, { id, tenantId, email, displayName: input.displayName?.trim() || email.split('@')[0]!, passwordHash });
        } catch (e) {
          // A concurrent create with the same email got in between the check and the insert.
          if (isUniqueViolation(e)) throw emailTaken();
          throw e;
        }
        await audit.record(tx, tenantId, { actor, action: 'user.created', target: { type: 'user', id: user.id }, data: { email } });
        return user;
      }, subjectsScope([id]));
    },

    /** One page of users after `after` ({createdAt, id} from a previous page's last row). */
    async list({ tenantId }: Access, filter: UserFilter, after: { k: string; id: string } | undefined, limit: number) {
      if (after && (!TIMESTAMP.test(after.k) || !UUID.test(after.id))) throw badRequest('invalid_cursor', 'the cursor is not one this API issued');
      return change.read((tx) => listUsers(tx, tenantId, filter, after && { createdAt: after.k, id: after.id }, limit));
    },

    /** How many users match the list's filter, counted up to `cap`. */
    async count({ tenantId }: Access, filter: UserFilter, cap: number): Promise<number> {
      return change.read((tx) => countUsers(tx, tenantId, filter, cap));
    },

    /** The ids the list's filter matches, at most `max` (the console's "select all N matching"). */
    async idsMatching({ tenantId }: Access, filter: UserFilter, max: number): Promise<string[]> {
      return change.read((tx) => listUserIds(tx, tenantId, filter, max));
    },

    /** The user with this email (compared case-folded, as sign-in does), if any. */
    async findByEmail({ tenantId }: Access, email: string): Promise<UserRow | undefined> {
      return change.read((tx) => findUserByEmail(tx, tenantId, email));
    },

    async get({ tenantId }: Access, userId: string): Promise<UserRow> {
      return change.read((tx) => requireUser(tx, tenantId, userId));
    },

    async update(access: Access, userId: string, patch: { email?: string | undefined; displayName?: string | undefined }): Promise<UserRow> {
      const email = patch.email === undefined ? undefined : validEmail(patch.email);
      const displayName = patch.displayName?.trim();
      if (displayName === '') throw unprocessable('invalid_display_name', 'display_name must not be blank');
      const { tenantId, actor } = access;
      return change(tenantId, async (tx) => {
        const before = await requireTarget(tx, access, userId, 'edit this user');
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
    async remove(access: Access, userId: string): Promise<void> {
      const { tenantId, actor } = access;
      const at = new Date();
      await change(tenantId, (tx) =>
        guardingOwners(tx, tenantId, async () => {
          const user = await requireTarget(tx, access, userId, 'delete this user');
          // Deletion is a revoke-all too: tokens already issued are refused everywhere that listens.
          await sessions.recordRevokeAll(tx, access, userId, at, 'deleted');
          await deleteUser(tx, userId);
          await audit.record(tx, tenantId, { actor, action: 'user.deleted', target: { type: 'user', id: userId }, data: { email: user.email } });
        }),
      );
      await sessions.afterRevocation(tenantId, userId, at);
    },

    setStatus,
    suspend: (access: Access, userId: string) => setStatus(access, userId, 'suspended'),
    unsuspend: (access: Access, userId: string) => setStatus(access, userId, 'active'),

    async setPassword(access: Access, userId: string, password: string): Promise<void> {
      const { tenantId, actor } = access;
      const hash = await hashPassword(password);
      const at = new Date();
      await change(tenantId, async (tx) => {
        await requireTarget(tx, access, userId, 'reset this user’s password');
        await updateUserPassword(tx, userId, hash);
        // A password set by an admin ends every session: whoever held the old one is signed out (SPEC §7).
        await sessions.recordRevokeAll(tx, access, userId, at, 'password_reset');
        // The password itself is never recorded, not even hashed.
        await audit.record(tx, tenantId, { actor, action: 'user.password_reset', target: { type: 'user', id: userId } });
      });
      await sessions.afterRevocation(tenantId, userId, at);
    },

    /** Direct roles, roles through group chains (holder first), and the effective capabilities; expired assignments left out. */
    async roles({ tenantId }: Access, userId: string) {
      const now = Date.now();
      return change.read(async (tx) => {
        await requireUser(tx, tenantId, userId);
        // Sequential: one transaction is one connection, which runs one query at a time anyway.
        const graph = deps.tenantGraph ? await deps.tenantGraph(tenantId) : await loadTenantGraph(tx, tenantId);
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
            return [{ slug: role.slug, name: role.name, type: role.type, group_path: path, path_count: c.chains, expires_at: c.expiresAt === null ? null : new Date(c.expiresAt).toISOString() }];
          }),
          capabilities: [...resolveEntitlement(graph, links, now).capabilities],
        };
      });
    },

    /** Effective capabilities; with `explain`, the paths that grant each (bounded, with the full count), in time linear in the group graph. */
    async capabilities({ tenantId }: Access, userId: string, explain: boolean) {
      const now = Date.now();
      return change.read(async (tx) => {
        await requireUser(tx, tenantId, userId);
        const graph = deps.tenantGraph ? await deps.tenantGraph(tenantId) : await loadTenantGraph(tx, tenantId);
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
              ? { type: 'group', groups: p.groups.map((id) => ({ id, name: names.get(id) ?? '' })), role: slugOf.get(p.roleId) ?? p.roleId, chains: p.chains }
              : { type: 'dependency', of: p.of };
        return { capabilities: explained.map((c) => ({ id: c.id, paths: c.paths.map(shape), path_count: c.path_count })) };
      });
    },

    /**
     * Takes every direct role and every group membership away from a user.
     * The actor must dominate the user, which covers every role and every
     * group-conferred capability that goes (SPEC §4).
     */
    async removeAccess(access: Access, userId: string): Promise<{ roles_removed: string[]; groups_removed: string[] }> {
      const { tenantId } = access;
      return change(tenantId, (tx) =>
        guardingOwners(tx, tenantId, async () => {
          await requireTarget(tx, access, userId, 'remove this user’s access');
          const direct = await assignments.unassignAllOf(tx, access, userId);
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
