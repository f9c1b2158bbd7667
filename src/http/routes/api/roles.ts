import { z } from 'zod';
import type { RoleService } from '../../../services/roles.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { assigneeSet, assignmentResult, isoDate, roleView, slug } from './schemas.ts';

const VIEW = ['users:view'];
const CHANGE = ['members:change_roles'];
const bySlug = z.strictObject({ slug });

const createBody = z.strictObject({
  name: z.string().max(200),
  description: z.string().max(1_000).nullable().optional(),
  slug: z.string().max(200).optional(),
  capabilities: z.array(z.string().max(100)).max(200),
  assign: assigneeSet.optional(),
});

const updateBody = z
  .strictObject({
    name: z.string().max(200).optional(),
    description: z.string().max(1_000).nullable().optional(),
    capabilities: z.array(z.string().max(100)).max(200).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to update');

const when = { assigned_at: z.string(), expires_at: z.string().nullable() };
const roleAssignments = z.object({
  users: z.array(z.object({ id: z.string(), email: z.string(), display_name: z.string(), ...when })),
  groups: z.array(z.object({ id: z.string(), name: z.string(), ...when })),
  clients: z.array(z.object({ id: z.string(), name: z.string(), ...when })),
});

/** Custom and system roles, and assignments made from the role (SPEC §4, §5). */
export function roleRoutes(deps: { roles: RoleService }): RouteDef[] {
  const { roles } = deps;
  return [
    route({
      method: 'get',
      path: '/roles',
      tag: 'roles',
      summary: 'List roles (custom by default)',
      capabilities: VIEW,
      query: z.strictObject({ type: z.enum(['custom', 'system', 'all']).default('custom') }),
      response: z.object({ items: z.array(roleView), next_cursor: z.null() }),
      handler: async ({ access, query }) => ({ items: await roles.list(access, query.type), next_cursor: null }),
    }),
    route({
      method: 'post',
      path: '/roles',
      tag: 'roles',
      summary: 'Create a custom role, optionally with starter assignments',
      capabilities: CHANGE,
      body: createBody,
      response: roleView,
      status: 201,
      handler: async ({ access, body }) => roles.create(access, body),
    }),
    route({
      method: 'get',
      path: '/roles/:slug',
      tag: 'roles',
      summary: 'Get a role',
      capabilities: VIEW,
      params: bySlug,
      response: roleView,
      handler: ({ access, params }) => roles.get(access, params.slug),
    }),
    route({
      method: 'patch',
      path: '/roles/:slug',
      tag: 'roles',
      summary: 'Rename or edit a custom role (the slug never changes)',
      capabilities: CHANGE,
      params: bySlug,
      body: updateBody,
      response: roleView,
      handler: async ({ access, params, body }) => roles.update(access, params.slug, body),
    }),
    route({
      method: 'delete',
      path: '/roles/:slug',
      tag: 'roles',
      summary: 'Delete a custom role; its slug is retired for good',
      capabilities: CHANGE,
      params: bySlug,
      query: z.strictObject({ strategy: z.enum(['unassign']).optional(), reassign_to: slug.optional() }),
      response: z.object({ deleted: z.string(), prior_assignments: z.object({ users: z.number(), groups: z.number(), clients: z.number() }), reassigned_to: z.string().optional() }),
      handler: async ({ access, params, query }) =>
        roles.remove(access, params.slug, { ...(query.strategy ? { strategy: query.strategy } : {}), ...(query.reassign_to ? { reassignTo: query.reassign_to } : {}) }),
    }),
    route({
      method: 'get',
      path: '/roles/:slug/assignments',
      tag: 'assignments',
      summary: 'Users, groups and applications a role is assigned to directly',
      capabilities: VIEW,
      params: bySlug,
      response: roleAssignments,
      handler: ({ access, params }) => roles.assignments(access, params.slug),
    }),
    route({
      method: 'post',
      path: '/roles/:slug/assignments',
      tag: 'assignments',
      summary: 'Assign a role to users and groups (idempotent)',
      capabilities: CHANGE,
      params: bySlug,
      body: assigneeSet.extend({ expires_at: isoDate.nullable().optional() }),
      response: assignmentResult,
      handler: async ({ access, params, body }) =>
        roles.addAssignments(access, params.slug, { users: body.users ?? [], groups: body.groups ?? [] }, body.expires_at ?? null),
    }),
    route({
      method: 'post',
      path: '/roles/:slug/assignments/remove',
      tag: 'assignments',
      summary: 'Remove a role from users and groups (idempotent)',
      capabilities: CHANGE,
      params: bySlug,
      body: assigneeSet,
      response: assignmentResult,
      handler: async ({ access, params, body }) => roles.removeAssignments(access, params.slug, { users: body.users ?? [], groups: body.groups ?? [] }),
    }),
  ];
}
