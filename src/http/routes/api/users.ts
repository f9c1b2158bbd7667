import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import { userView } from '../../../services/users.ts';
import { CURSORS, decodeCursor, page, pageQuery } from '../../api/pagination.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { assignmentResult, isoDate, pageOf, slug, uuid } from './schemas.ts';

const byId = z.strictObject({ id: uuid });
const byIdAndSlug = z.strictObject({ id: uuid, slug });
const email = z.string().min(3).max(320);
const displayName = z.string().min(1).max(200);
const password = z.string().min(12, 'must be at least 12 characters').max(1_024);

const userResponse = z.object({
  id: z.string(),
  email: z.string(),
  display_name: z.string(),
  status: z.enum(['active', 'suspended']),
  created_at: z.string(),
  updated_at: z.string(),
});

const listQuery = z.strictObject({
  ...pageQuery,
  query: z.string().min(1).max(200).optional(),
  status: z.enum(['active', 'suspended']).optional(),
  role: slug.optional(),
  /** Direct members only; nested subgroups' members are not included. */
  group: uuid.optional(),
});

const groupRef = z.object({ id: z.string(), name: z.string() });
const grantPath = z.union([
  z.object({ type: z.literal('direct'), role: z.string() }),
  z.object({ type: z.literal('group'), groups: z.array(groupRef), role: z.string(), chains: z.number().int() }),
  z.object({ type: z.literal('dependency'), of: z.string() }),
]);
/** Plain: the effective capabilities; with explain=true, each with the paths that grant it (at most 50) and their count. */
const capabilitiesResponse = z.object({
  capabilities: z.union([z.array(z.string()), z.array(z.object({ id: z.string(), paths: z.array(grantPath), path_count: z.number().int() }))]),
});
const rolesResponse = z.object({
  direct: z.array(z.object({ slug: z.string(), name: z.string(), type: z.string(), assigned_at: z.string(), expires_at: z.string().nullable() })),
  via_groups: z.array(z.object({ slug: z.string(), name: z.string(), type: z.string(), group_path: z.array(groupRef), path_count: z.number().int(), expires_at: z.string().nullable() })),
  capabilities: z.array(z.string()),
});

/** Users, their status and passwords, and assignments made from the user (SPEC §2, §5, §7). */
export function userRoutes(deps: { services: Services; [k: string]: unknown }): RouteDef[] {
  const { users, roles } = deps.services;
  return [
    route({
      method: 'get',
      path: '/users',
      tag: 'users',
      summary: 'List users by creation; filter by query (email or name), status, role (direct or via nested groups) or group (direct members)',
      capabilities: ['users:view'],
      query: listQuery,
      response: pageOf(userResponse),
      handler: async ({ access, query }) => {
        const { limit, cursor, ...filter } = query;
        const rows = await users.list(access, filter, decodeCursor(cursor, CURSORS.created), limit + 1);
        const out = page(rows, limit, (u) => ({ k: u.position, id: u.id }));
        return { items: out.items.map(userView), next_cursor: out.next_cursor };
      },
    }),
    route({
      method: 'post',
      path: '/users',
      tag: 'users',
      summary: 'Create a user; emails are unique per tenant ignoring case',
      capabilities: ['users:create'],
      body: z.strictObject({ email, display_name: displayName.optional(), password: password.optional() }),
      response: userResponse,
      status: 201,
      bodyLimit: 16 * 1024,
      handler: async ({ access, body }) =>
        userView(
          await users.create(access, {
            email: body.email,
            ...(body.display_name !== undefined ? { displayName: body.display_name } : {}),
            ...(body.password !== undefined ? { password: body.password } : {}),
          }),
        ),
    }),
    route({
      method: 'get',
      path: '/users/:id',
      tag: 'users',
      summary: 'Get a user',
      capabilities: ['users:view'],
      params: byId,
      response: userResponse,
      handler: async ({ access, params }) => userView(await users.get(access, params.id)),
    }),
    route({
      method: 'patch',
      path: '/users/:id',
      tag: 'users',
      summary: 'Change a user’s email or display name',
      capabilities: ['users:edit'],
      params: byId,
      body: z.strictObject({ email: email.optional(), display_name: displayName.optional() }).refine((b) => Object.keys(b).length > 0, 'nothing to update'),
      response: userResponse,
      bodyLimit: 16 * 1024,
      handler: async ({ access, params, body }) =>
        userView(await users.update(access, params.id, { email: body.email, displayName: body.display_name })),
    }),
    route({
      method: 'delete',
      path: '/users/:id',
      tag: 'users',
      summary: 'Delete a user (409 last_owner for the last active Owner user)',
      capabilities: ['users:delete'],
      params: byId,
      handler: async ({ access, params }) => users.remove(access, params.id),
    }),
    route({
      method: 'post',
      path: '/users/:id/suspend',
      tag: 'users',
      summary: 'Suspend a user and revoke the tokens issued so far (idempotent)',
      capabilities: ['users:suspend'],
      params: byId,
      response: userResponse,
      handler: async ({ access, params }) => userView(await users.suspend(access, params.id)),
    }),
    route({
      method: 'post',
      path: '/users/:id/unsuspend',
      tag: 'users',
      summary: 'Reactivate a suspended user (idempotent)',
      capabilities: ['users:suspend'],
      params: byId,
      response: userResponse,
      handler: async ({ access, params }) => userView(await users.unsuspend(access, params.id)),
    }),
    route({
      method: 'post',
      path: '/users/:id/password',
      tag: 'users',
      summary: 'Set a new password for a user',
      capabilities: ['users:reset_password'],
      params: byId,
      body: z.strictObject({ password }),
      bodyLimit: 8 * 1024,
      handler: async ({ access, params, body }) => users.setPassword(access, params.id, body.password),
    }),
    route({
      method: 'get',
      path: '/users/:id/roles',
      tag: 'assignments',
      summary: 'Direct roles, roles through groups with their group path, and effective capabilities',
      capabilities: ['users:view'],
      params: byId,
      response: rolesResponse,
      handler: ({ access, params }) => users.roles(access, params.id),
    }),
    route({
      method: 'put',
      path: '/users/:id/roles/:slug',
      tag: 'assignments',
      summary: 'Assign a role to the user (idempotent)',
      capabilities: ['members:change_roles'],
      params: byIdAndSlug,
      body: z.strictObject({ expires_at: isoDate.nullable().optional() }),
      response: assignmentResult,
      handler: async ({ access, params, body }) => roles.addAssignments(access, params.slug, { users: [params.id] }, body.expires_at ?? null),
    }),
    route({
      method: 'delete',
      path: '/users/:id/roles/:slug',
      tag: 'assignments',
      summary: 'Remove a role from the user (idempotent)',
      capabilities: ['members:change_roles'],
      params: byIdAndSlug,
      response: assignmentResult,
      handler: async ({ access, params }) => roles.removeAssignments(access, params.slug, { users: [params.id] }),
    }),
    route({
      method: 'get',
      path: '/users/:id/capabilities',
      tag: 'assignments',
      summary: 'Effective capabilities; with explain=true, every path that grants each one',
      capabilities: ['users:view'],
      params: byId,
      query: z.strictObject({ explain: z.enum(['true', 'false']).default('false') }),
      response: capabilitiesResponse,
      handler: ({ access, params, query }) => users.capabilities(access, params.id, query.explain === 'true'),
    }),
    route({
      method: 'post',
      path: '/users/:id/remove-access',
      tag: 'users',
      summary: 'Remove every direct role and group membership of a user',
      capabilities: ['members:remove'],
      params: byId,
      response: z.object({ roles_removed: z.array(z.string()), groups_removed: z.array(z.string()) }),
      handler: async ({ access, params }) => users.removeAccess(access, params.id),
    }),
  ];
}
