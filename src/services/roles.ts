import { randomUUID } from 'node:crypto';
import { CAPABILITY_BY_ID, closeUnderRequires, SYSTEM_ROLES } from '../catalogue/index.ts';
import type { Tx } from '../db/client.ts';
import { conflict, notFound, unprocessable } from '../errors/index.ts';
import { findClientById } from '../queries/clients.ts';
import { findGroupById } from '../queries/groups.ts';
import {
  deleteClientRole,
  deleteGroupRole,
  deleteUserRoles,
  findRoleBySlug,
  insertRoles,
  isSlugUnavailable,
  upsertClientRole,
  upsertGroupRole,
  upsertUserRoles,
  type RoleRow,
} from '../queries/roles.ts';
import { findUserById } from '../queries/users.ts';
import type { Actor, AuditLog } from './audit.ts';
import type { TenantChange } from './change.ts';

export type Assignee = { type: 'user' | 'group' | 'client'; id: string };

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

/** Validates requested capabilities and returns them closed under `requires`. */
export function normaliseCapabilities(ids: readonly string[]): string[] {
  if (!ids.length) throw unprocessable('capabilities_required', 'a role needs at least one capability');
  const unknown = ids.filter((id) => !CAPABILITY_BY_ID.has(id));
  if (unknown.length) throw unprocessable('unknown_capability', `unknown capabilities: ${unknown.join(', ')}`, { capabilities: unknown });
  const reserved = ids.filter((id) => CAPABILITY_BY_ID.get(id)!.reserved);
  if (reserved.length) throw unprocessable('capability_reserved', `Owner-only capabilities: ${reserved.join(', ')}`, { capabilities: reserved });
  return closeUnderRequires(ids);
}

const slugify = (name: string) =>
  name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 56) || 'role';

async function assertAssignee(tx: Tx, tenantId: string, who: Assignee): Promise<void> {
  const found =
    who.type === 'user'
      ? (await findUserById(tx, who.id))?.tenantId === tenantId
      : who.type === 'group'
        ? Boolean(await findGroupById(tx, tenantId, who.id))
        : (await findClientById(tx, who.id))?.tenantId === tenantId;
  if (!found) throw notFound(who.type === 'client' ? 'application' : who.type);
}

/** Roles and assignments. The admin API builds on this; the CLI uses it directly. */
export function createRoleService(deps: { change: TenantChange; audit: AuditLog }) {
  const { change, audit } = deps;
  return {
    async createCustom(tenantId: string, actor: Actor, input: { name: string; description?: string; capabilities: string[] }) {
      const capabilities = normaliseCapabilities(input.capabilities);
      const name = input.name.trim();
      return change(tenantId, async (tx) => {
        const base = slugify(name);
        let slug = base;
        for (let n = 2; await isSlugUnavailable(tx, tenantId, slug); n++) slug = `${base}-${n}`;
        const [role] = await insertRoles(tx, [
          { id: randomUUID(), tenantId, slug, name, description: input.description ?? null, type: 'custom', capabilities },
        ]).catch((e: unknown) => {
          if ((e as { cause?: { code?: string } }).cause?.code === '23505' || (e as { code?: string }).code === '23505') {
            throw conflict('role_name_taken', 'a role with this name already exists');
          }
          throw e;
        });
        await audit.record(tx, tenantId, { actor, action: 'role.created', target: { type: 'role', id: slug }, data: { name, slug, capabilities } });
        return role!;
      });
    },

    /** Assigns a role; idempotent. Returns true when something changed. */
    async assign(tenantId: string, actor: Actor, slug: string, who: Assignee, expiresAt: Date | null = null): Promise<boolean> {
      return change(tenantId, async (tx) => {
        const role = await findRoleBySlug(tx, tenantId, slug);
        if (!role) throw notFound('role');
        await assertAssignee(tx, tenantId, who);
        const row = { tenantId, roleId: role.id, expiresAt };
        const changed =
          who.type === 'user'
            ? (await upsertUserRoles(tx, [{ ...row, userId: who.id }])).length > 0
            : who.type === 'group'
              ? await upsertGroupRole(tx, { ...row, groupId: who.id })
              : await upsertClientRole(tx, { ...row, clientId: who.id });
        if (changed) {
          await audit.record(tx, tenantId, {
            actor,
            action: 'role.assigned',
            target: { type: who.type, id: who.id },
            data: { role: slug, expires_at: expiresAt?.toISOString() ?? null },
          });
        }
        return changed;
      });
    },

    /** Removes a role assignment; idempotent. Returns true when something changed. */
    async unassign(tenantId: string, actor: Actor, slug: string, who: Assignee): Promise<boolean> {
      return change(tenantId, async (tx) => {
        const role = await findRoleBySlug(tx, tenantId, slug);
        if (!role) throw notFound('role');
        await assertAssignee(tx, tenantId, who);
        const changed =
          who.type === 'user'
            ? (await deleteUserRoles(tx, role.id, [who.id])).length > 0
            : who.type === 'group'
              ? await deleteGroupRole(tx, role.id, who.id)
              : await deleteClientRole(tx, role.id, who.id);
        if (changed) {
          await audit.record(tx, tenantId, { actor, action: 'role.unassigned', target: { type: who.type, id: who.id }, data: { role: slug } });
        }
        return changed;
      });
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
