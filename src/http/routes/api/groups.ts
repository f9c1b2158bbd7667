import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import { CURSORS, decodeCursor, page, pageQuery } from '../../api/pagination.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { assignmentResult, idList, isoDate, pageOf, slug, uuid } from './schemas.ts';

const VIEW = ['users:view'];
const CHANGE = ['members:change_roles'];
const byId = z.strictObject({ id: uuid });

const groupView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  member_count: z.number(),
  subgroup_count: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
});
const memberView = z.object({ id: z.string(), email: z.string(), display_name: z.string(), added_at: z.string() });
const roleOfGroup = z.object({ slug: z.string(), name: z.string(), type: z.enum(['system', 'custom']), assigned_at: z.string(), expires_at: z.string().nullable() });
const groupRef = z.object({ id: z.string(), name: z.string() });
const changeResult = z.object({ changed: z.array(z.string()), unchanged: z.array(z.string()) });

const name = z.string().trim().min(1).max(100);
const description = z.string().max(200).nullable().optional();

/** Groups, their members, nesting and roles (SPEC §2, §5). */
export function groupRoutes(deps: { services: Services; [k: string]: unknown }): RouteDef[] {
  const { groups } = deps.services;
  return [
    route({
      method: 'get',
      path: '/groups',
      tag: 'groups',
      summary: 'List groups by name, optionally filtered by a name substring',
      capabilities: VIEW,
      query: z.strictObject({ ...pageQuery, query: z.string().trim().min(1).max(100).optional() }),
      response: pageOf(groupView),
      handler: async ({ access, query }) => {
        const after = decodeCursor(query.cursor, CURSORS.named);
        const rows = await groups.list(access, { limit: query.limit, query: query.query, after: after && { name: after.k, id: after.id } });
        return page(rows, query.limit, (g) => ({ k: g.name, id: g.id }));
      },
    }),
    route({
      method: 'post',
      path: '/groups',
      tag: 'groups',
      summary: 'Create a group (names are unique ignoring case)',
      capabilities: CHANGE,
      body: z.strictObject({ name, description }),
      response: groupView,
      status: 201,
      handler: async ({ access, body }) => groups.createGroup(access, body),
    }),
    route({
      method: 'get',
      path: '/groups/:id',
      tag: 'groups',
      summary: 'Get a group with the ids of its parent groups',
      capabilities: VIEW,
      params: byId,
      response: groupView.extend({ parents: z.array(z.string()) }),
      handler: ({ access, params }) => groups.get(access, params.id),
    }),
    route({
      method: 'patch',
      path: '/groups/:id',
      tag: 'groups',
      summary: 'Rename a group or change its description',
      capabilities: CHANGE,
      params: byId,
      body: z.strictObject({ name: name.optional(), description }).refine((b) => Object.keys(b).length > 0, 'nothing to update'),
      response: groupView,
      handler: async ({ access, params, body }) => groups.updateGroup(access, params.id, body),
    }),
    route({
      method: 'delete',
      path: '/groups/:id',
      tag: 'groups',
      summary: 'Delete a group; its members lose what it conferred',
      capabilities: CHANGE,
      params: byId,
      handler: async ({ access, params }) => groups.deleteGroup(access, params.id),
    }),
    route({
      method: 'get',
      path: '/groups/:id/members',
      tag: 'groups',
      summary: 'Direct members of a group, by email',
      capabilities: VIEW,
      params: byId,
      query: z.strictObject(pageQuery),
      response: pageOf(memberView),
      handler: async ({ access, params, query }) => {
        const after = decodeCursor(query.cursor, CURSORS.named);
        const rows = await groups.members(access, params.id, { limit: query.limit, after: after && { email: after.k, id: after.id } });
        return page(rows, query.limit, (m) => ({ k: m.email, id: m.id }));
      },
    }),
    route({
      method: 'post',
      path: '/groups/:id/members',
      tag: 'groups',
      summary: 'Add users to a group (idempotent)',
      capabilities: CHANGE,
      params: byId,
      body: z.strictObject({ users: idList().min(1) }),
      response: changeResult,
      handler: async ({ access, params, body }) => groups.addMembers(access, params.id, body.users),
    }),
    route({
      method: 'delete',
      path: '/groups/:id/members/:userId',
      tag: 'groups',
      summary: 'Remove a user from a group (idempotent)',
      capabilities: CHANGE,
      params: z.strictObject({ id: uuid, userId: uuid }),
      handler: async ({ access, params }) => {
        await groups.removeMembers(access, params.id, [params.userId]);
      },
    }),
    route({
      method: 'get',
      path: '/groups/:id/subgroups',
      tag: 'groups',
      summary: 'Groups nested directly under a group',
      capabilities: VIEW,
      params: byId,
      response: z.object({ items: z.array(groupView), next_cursor: z.null() }),
      handler: async ({ access, params }) => ({ items: await groups.subgroups(access, params.id), next_cursor: null }),
    }),
    route({
      method: 'post',
      path: '/groups/:id/subgroups',
      tag: 'groups',
      summary: 'Nest groups under a group (idempotent; 409 group_cycle on a cycle)',
      capabilities: CHANGE,
      params: byId,
      body: z.strictObject({ groups: idList().min(1) }),
      response: changeResult,
      handler: async ({ access, params, body }) => groups.addSubgroups(access, params.id, body.groups),
    }),
    route({
      method: 'delete',
      path: '/groups/:id/subgroups/:childId',
      tag: 'groups',
      summary: 'Un-nest a group; inheritance through it stops at the next token',
      capabilities: CHANGE,
      params: z.strictObject({ id: uuid, childId: uuid }),
      handler: async ({ access, params }) => {
        await groups.removeSubgroups(access, params.id, [params.childId]);
      },
    }),
    route({
      method: 'get',
      path: '/groups/:id/roles',
      tag: 'assignments',
      summary: 'Roles of a group: assigned directly, and inherited from ancestor groups with the path',
      capabilities: VIEW,
      params: byId,
      response: z.object({ direct: z.array(roleOfGroup), inherited: z.array(roleOfGroup.extend({ group: groupRef, path: z.array(groupRef) })) }),
      handler: ({ access, params }) => groups.roles(access, params.id),
    }),
    route({
      method: 'put',
      path: '/groups/:id/roles/:slug',
      tag: 'assignments',
      summary: 'Assign a role to a group (idempotent)',
      capabilities: CHANGE,
      params: z.strictObject({ id: uuid, slug }),
      body: z.strictObject({ expires_at: isoDate.nullable().optional() }),
      response: assignmentResult,
      handler: async ({ access, params, body }) => groups.assignRole(access, params.id, params.slug, body.expires_at ?? null),
    }),
    route({
      method: 'delete',
      path: '/groups/:id/roles/:slug',
      tag: 'assignments',
      summary: 'Remove a role from a group (idempotent)',
      capabilities: CHANGE,
      params: z.strictObject({ id: uuid, slug }),
      handler: async ({ access, params }) => {
        await groups.unassignRole(access, params.id, params.slug);
      },
    }),
  ];
}
