import { randomUUID } from 'node:crypto';
import { CAPABILITY_BY_ID, closeUnderRequires, SYSTEM_ROLES } from '../catalogue/index.ts';
import { allOn, type Tx } from '../db/client.ts';
import { conflict, forbidden, notFound, unprocessable } from '../errors/index.ts';
import {
  assignmentCounts,
  deleteRoleAndRetireSlug,
  findRoleBySlug,
  insertRoles,
  isSlugUnavailable,
  listRoleAssignments,
  listRoleNames,
  listRoles,
  updateRole,
  type RoleCounts,
  type RoleRow,
} from '../queries/roles.ts';
import { skeleton } from '../text/index.ts';
import type { AuditLog } from './audit.ts';
import { subjectsScope, type ChangeScope, type TenantChange } from './change.ts';
import { type AssignmentEngine, type Assignee, type AssigneeSet, type AssignmentResult } from './assignments.ts';
import { assertDominates, assertHolds, type Access, type Target } from './authority.ts';

export { OWNER, type Assignee, type AssigneeSet, type AssignmentResult } from './assignments.ts';

/** The API shape of a role. */
export interface RoleView {
  slug: string;
  name: string;
  description: string | null;
  type: 'system' | 'custom';
  capabilities: string[];
  capability_count: number;
  assigned: { users: number; groups: number };
  created_at: string;
  updated_at: string;
}

export const NAME_MAX = 50;
export const DESCRIPTION_MAX = 200;
export const SLUG_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
export const SLUG_MAX = 64;

const NO_COUNTS: RoleCounts = { users: 0, groups: 0, clients: 0 };

function view(role: RoleRow, counts: RoleCounts = NO_COUNTS): RoleView {
  return {
    slug: role.slug,
    name: role.name,
    description: role.description,
    type: role.type,
    capabilities: role.capabilities,
    capability_count: role.capabilities.length,
    assigned: { users: counts.users, groups: counts.groups },
    created_at: role.createdAt.toISOString(),
    updated_at: role.updatedAt.toISOString(),
  };
}

/** Inserts the four system roles of a new tenant. */
export async function seedSystemRoles(tx: Tx, tenantId: string): Promise<RoleRow[]> {
  return insertRoles(
    tx,
    SYSTEM_ROLES.map((r) => ({
      id: randomUUID(),
      tenantId,
      slug: r.slug,
      name: r.name,
      description: r.description,
      type: 'system' as const,
      capabilities: [...r.capabilities],
    })),
  );
}

/** Validates requested capabilities and returns them sorted and closed under `requires`. */
export function normaliseCapabilities(ids: readonly string[]): string[] {
  if (!ids.length) throw unprocessable('capabilities_required', 'a role needs at least one capability');
  const unknown = ids.filter((id) => !CAPABILITY_BY_ID.has(id));
  if (unknown.length) throw unprocessable('unknown_capability', `unknown capabilities: ${unknown.join(', ')}`, { capabilities: unknown });
  const reserved = ids.filter((id) => CAPABILITY_BY_ID.get(id)!.reserved);
  if (reserved.length) throw unprocessable('capability_reserved', `Owner-only capabilities: ${reserved.join(', ')}`, { capabilities: reserved });
  return closeUnderRequires(ids);
}

const SYSTEM_SKELETONS = new Map(SYSTEM_ROLES.map((r) => [skeleton(r.name), r.name]));

function validateName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > NAME_MAX) throw unprocessable('invalid_name', `name must be 1-${NAME_MAX} characters after trimming`);
  // A custom role that looks like a system role ("Оwner" in Cyrillic, "0wner", "Ówner") would mislead whoever assigns it.
  const lookalike = SYSTEM_SKELETONS.get(skeleton(trimmed));
  if (lookalike) throw conflict('role_name_taken', `"${trimmed}" looks like the system role "${lookalike}"`);
  return trimmed;
}

function validateDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > DESCRIPTION_MAX) throw unprocessable('invalid_description', `description must be at most ${DESCRIPTION_MAX} characters`);
  return description;
}

/** The slug a role name suggests (the console shows it as the name is typed; console.js mirrors this). */
export const slugBase = (name: string) =>
  name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX - 8)
    .replace(/-+$/g, '') || 'role';

const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; cause?: { code?: string } };
  return err.code === '23505' || err.cause?.code === '23505';
};

/** Roles and assignments (SPEC §4, §5): every rule the admin API promises lives here. */
/** Direct assignments to users and clients change only their links; a group's roles are part of the tenant graph. */
function assignmentScope(set: AssigneeSet): ChangeScope {
  return set.groups?.length ? { tenant: true } : subjectsScope(set.users ?? [], set.clients ?? []);
}

export function createRoleService(deps: { change: TenantChange; audit: AuditLog; assignments: AssignmentEngine }) {
  const { change, audit, assignments: engine } = deps;

  async function requireRole(tx: Tx, tenantId: string, slug: string): Promise<RoleRow> {
    const role = await findRoleBySlug(tx, tenantId, slug);
    if (!role) throw notFound('role');
    return role;
  }

  const service = {
    async list({ tenantId }: Access, type: 'custom' | 'system' | 'all' = 'custom'): Promise<RoleView[]> {
      return change.read(async (tx) => {
        const [roles, counts] = await allOn(tx, [() => listRoles(tx, tenantId), () => assignmentCounts(tx, tenantId)] as const);
        return roles.filter((r) => type === 'all' || r.type === type).map((r) => view(r, counts.get(r.id)));
      });
    },

    /** Every role's slug, name and type, without assignment counts: for pickers, cheap at 500 roles. */
    async options({ tenantId }: Access): Promise<Array<{ slug: string; name: string; type: 'system' | 'custom' }>> {
      return change.read(async (tx) => (await listRoleNames(tx, tenantId)).map((r) => ({ slug: r.slug, name: r.name, type: r.type as 'system' | 'custom' })));
    },

    async get({ tenantId }: Access, slug: string): Promise<RoleView> {
      return change.read(async (tx) => {
        const role = await requireRole(tx, tenantId, slug);
        return view(role, (await assignmentCounts(tx, tenantId)).get(role.id));
      });
    },

    async create(
      access: Access,
      input: { name: string; description?: string | null; slug?: string; capabilities: readonly string[]; assign?: AssigneeSet },
    ): Promise<RoleView> {
      const name = validateName(input.name);
      const description = validateDescription(input.description);
      const capabilities = normaliseCapabilities(input.capabilities);
      if (input.slug !== undefined && (!SLUG_PATTERN.test(input.slug) || input.slug.length > SLUG_MAX)) {
        throw unprocessable('invalid_slug', 'slug must be lowercase letters and digits separated by single hyphens, at most 64 characters');
      }
      assertHolds(access, capabilities, 'create a role with these capabilities');
      const { tenantId } = access;
      return change(tenantId, async (tx) => {
        let slug = input.slug;
        if (slug !== undefined) {
          if (await isSlugUnavailable(tx, tenantId, slug)) throw conflict('slug_unavailable', `the slug "${slug}" is taken or retired`);
        } else {
          const base = slugBase(name);
          slug = base;
          for (let n = 2; await isSlugUnavailable(tx, tenantId, slug); n++) slug = `${base}-${n}`;
        }
        let role: RoleRow;
        try {
          // A savepoint, so a name clash can be reported without aborting the outer transaction.
          [role] = (await tx.transaction((sp) => insertRoles(sp, [{ id: randomUUID(), tenantId, slug, name, description, type: 'custom', capabilities }]))) as [RoleRow];
        } catch (e) {
          if (isUniqueViolation(e)) throw conflict('role_name_taken', `a role named "${name}" already exists (names are compared ignoring case)`);
          throw e;
        }
        await audit.record(tx, tenantId, { actor: access.actor, action: 'role.created', target: { type: 'role', id: slug }, data: { name, slug, capabilities } });
        let counts = NO_COUNTS;
        if (input.assign) {
          await engine.requireAssignees(tx, tenantId, input.assign);
          const r = await engine.assign(tx, access, role, input.assign, null);
          counts = { users: r.changed.users.length, groups: r.changed.groups.length, clients: r.changed.clients.length };
        }
        return view(role, counts);
      });
    },

    async update(access: Access, slug: string, patch: { name?: string; description?: string | null; capabilities?: readonly string[] }): Promise<RoleView> {
      const name = patch.name === undefined ? undefined : validateName(patch.name);
      const description = patch.description === undefined ? undefined : validateDescription(patch.description);
      const capabilities = patch.capabilities === undefined ? undefined : normaliseCapabilities(patch.capabilities);
      const { tenantId } = access;
      return change(tenantId, async (tx) => {
        const before = await requireRole(tx, tenantId, slug);
        if (before.type === 'system') throw forbidden('system_role_immutable', 'system roles cannot be edited');
        // Editing shapes what every holder gets: the actor must hold what the role had and what it will have,
        // so a role manager can neither add nor take away a capability it doesn't hold (SPEC §4).
        assertHolds(access, [...before.capabilities, ...(capabilities ?? [])], 'edit this role');
        let after: RoleRow;
        try {
          after = await tx.transaction((sp) => updateRole(sp, before.id, { ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}), ...(capabilities ? { capabilities } : {}) }));
        } catch (e) {
          if (isUniqueViolation(e)) throw conflict('role_name_taken', `a role named "${name}" already exists (names are compared ignoring case)`);
          throw e;
        }
        const pick = (r: RoleRow) => ({ name: r.name, description: r.description, capabilities: r.capabilities });
        await audit.record(tx, tenantId, { actor: access.actor, action: 'role.updated', target: { type: 'role', id: slug }, data: { before: pick(before), after: pick(after) } });
        return view(after, (await assignmentCounts(tx, tenantId)).get(after.id));
      });
    },

    /** Deletes a custom role and retires its slug; `unassign` or `reassign_to` when it is still assigned. */
    async remove(access: Access, slug: string, opts: { strategy?: 'unassign'; reassignTo?: string } = {}): Promise<{ deleted: string; prior_assignments: { users: number; groups: number; clients: number }; reassigned_to?: string }> {
      const { tenantId } = access;
      return change(tenantId, async (tx) => {
        const role = await requireRole(tx, tenantId, slug);
        if (role.type === 'system') throw forbidden('system_role_immutable', 'system roles cannot be deleted');
        const prior = await listRoleAssignments(tx, role.id);
        const counts = { users: prior.users.length, groups: prior.groups.length, clients: prior.clients.length };
        const inUse = counts.users + counts.groups + counts.clients > 0;
        let target: RoleRow | undefined;
        if (opts.reassignTo !== undefined) {
          if (opts.reassignTo === slug) throw unprocessable('invalid_reassign', 'a role cannot be reassigned to itself');
          target = await findRoleBySlug(tx, tenantId, opts.reassignTo);
          if (!target) throw notFound('role to reassign to');
        }
        if (inUse && !opts.strategy && !target) {
          throw conflict('role_in_use', `the role is still assigned to ${counts.users} users, ${counts.groups} groups and ${counts.clients} applications`, { assigned: counts });
        }
        if (inUse) {
          // Removing the role from its holders is an unassignment of each: the actor must hold the role and
          // dominate every user and service client that has it; moving them is an assignment of the target.
          assertHolds(access, role.capabilities, 'unassign this role');
          const holders: Target[] = [...prior.users.map((u) => ({ type: 'user' as const, id: u.id })), ...prior.clients.map((c) => ({ type: 'client' as const, id: c.id }))];
          await assertDominates(tx, access, holders, 'take this role away from its holders');
          if (target) await engine.reassignAll(tx, access, role, target);
        }
        const serial = (a: { assigned_at: Date; expires_at: Date | null }) => ({ assigned_at: new Date(a.assigned_at).toISOString(), expires_at: a.expires_at ? new Date(a.expires_at).toISOString() : null });
        await deleteRoleAndRetireSlug(tx, role);
        await audit.record(tx, tenantId, {
          actor: access.actor,
          action: 'role.deleted',
          target: { type: 'role', id: slug },
          data: {
            name: role.name,
            capabilities: role.capabilities,
            strategy: target ? 'reassign' : inUse ? 'unassign' : null,
            reassigned_to: target?.slug ?? null,
            prior_assignments: {
              users: prior.users.map((u) => ({ id: u.id, ...serial(u) })),
              groups: prior.groups.map((g) => ({ id: g.id, ...serial(g) })),
              clients: prior.clients.map((c) => ({ id: c.id, ...serial(c) })),
            },
          },
        });
        return { deleted: slug, prior_assignments: counts, ...(target ? { reassigned_to: target.slug } : {}) };
      });
    },

    /** Everyone the role is assigned to directly, with ISO 8601 times (raw rows carry the driver's date format). */
    async assignments({ tenantId }: Access, slug: string, limit?: number) {
      return change.read(async (tx) => {
        const role = await requireRole(tx, tenantId, slug);
        const rows = await listRoleAssignments(tx, role.id, limit);
        const times = <T extends { assigned_at: Date | string; expires_at: Date | string | null }>(r: T) => ({
          ...r,
          assigned_at: new Date(r.assigned_at).toISOString(),
          expires_at: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
        });
        return { users: rows.users.map(times), groups: rows.groups.map(times), clients: rows.clients.map(times) };
      });
    },

    /** Adds assignments; idempotent, and reports what changed and what was already so. */
    async addAssignments(access: Access, slug: string, set: AssigneeSet, expiresAt: Date | null = null): Promise<AssignmentResult> {
      if (expiresAt && expiresAt.getTime() <= Date.now()) throw unprocessable('invalid_expiry', 'expires_at must be in the future');
      const { roleId, result } = await change(
        access.tenantId,
        async (tx) => {
          const role = await requireRole(tx, access.tenantId, slug);
          await engine.requireAssignees(tx, access.tenantId, set);
          const { changed, unchanged } = await engine.assign(tx, access, role, set, expiresAt);
          return { roleId: role.id, result: { changed, unchanged } };
        },
        assignmentScope(set),
      );
      await engine.scheduleExpiries(access.tenantId, roleId, result.changed, expiresAt);
      return result;
    },

    /** Removes assignments; idempotent. */
    async removeAssignments(access: Access, slug: string, set: AssigneeSet): Promise<AssignmentResult> {
      return change(
        access.tenantId,
        async (tx) => {
          const role = await requireRole(tx, access.tenantId, slug);
          await engine.requireAssignees(tx, access.tenantId, set);
          const { changed, unchanged } = await engine.unassign(tx, access, role, set);
          return { changed, unchanged };
        },
        assignmentScope(set),
      );
    },

    /** One assignment (CLI, tests). Returns true when something changed. */
    async assign(access: Access, slug: string, who: Assignee, expiresAt: Date | null = null): Promise<boolean> {
      const r = await service.addAssignments(access, slug, { [`${who.type}s`]: [who.id] }, expiresAt);
      return r.changed.users.length + r.changed.groups.length + r.changed.clients.length > 0;
    },

    /** One unassignment (CLI, tests). Returns true when something changed. */
    async unassign(access: Access, slug: string, who: Assignee): Promise<boolean> {
      const r = await service.removeAssignments(access, slug, { [`${who.type}s`]: [who.id] });
      return r.changed.users.length + r.changed.groups.length + r.changed.clients.length > 0;
    },
  };
  return service;
}

export type RoleService = ReturnType<typeof createRoleService>;
