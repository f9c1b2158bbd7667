import { z } from 'zod';
import type { Services } from '../../../services/index.ts';
import type { ClientRoleRow, ClientRow } from '../../../queries/clients.ts';
import { CURSORS, decodeCursor, page, pageQuery } from '../../api/pagination.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { assignmentResult, isoDate, pageOf, slug } from './schemas.ts';

const clientId = z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, 'must be an application id');
const byId = z.strictObject({ id: clientId });
const byIdAndRole = z.strictObject({ id: clientId, slug });
const name = z.string().trim().min(1).max(100);
const uris = z.array(z.string().max(2_000)).max(50);
const scopes = z.array(z.string().max(100)).max(200);

const applicationView = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(['web', 'spa', 'native', 'service']),
  first_party: z.boolean(),
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()),
  allowed_scopes: z.array(z.string()).nullable(),
  id_token_signed_response_alg: z.string().nullable(),
  backchannel_logout_uri: z.string().nullable(),
  disabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

const withSecret = applicationView.extend({ client_secret: z.string().nullable() });

const clientRoleView = z.object({ slug: z.string(), name: z.string(), assigned_at: z.string(), expires_at: z.string().nullable() });

/** The API shape of a client: its settings, never the secret or its hash. */
function view(c: ClientRow): z.infer<typeof applicationView> {
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    first_party: c.firstParty,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    allowed_scopes: c.allowedScopes,
    id_token_signed_response_alg: c.idTokenSignedResponseAlg,
    backchannel_logout_uri: c.backchannelLogoutUri,
    disabled: c.disabled,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

const roleView = (r: ClientRoleRow) => ({ slug: r.slug, name: r.name, assigned_at: r.assignedAt.toISOString(), expires_at: r.expiresAt?.toISOString() ?? null });

const createBody = z.strictObject({
  name,
  type: z.enum(['web', 'spa', 'native', 'service']),
  redirect_uris: uris.default([]),
  post_logout_redirect_uris: uris.optional(),
  first_party: z.boolean().optional(),
  allowed_scopes: scopes.nullable().optional(),
  /** The ID-token algorithm (OIDC Registration §2); unset means RS256. */
  id_token_signed_response_alg: z.enum(['ES256', 'EdDSA', 'PS256', 'RS256']).nullable().optional(),
  /** OIDC Back-Channel Logout 1.0: logout tokens for each session a revocation ends. */
  backchannel_logout_uri: z.string().max(2_000).nullable().optional(),
});

const updateBody = z
  .strictObject({
    name: name.optional(),
    redirect_uris: uris.optional(),
    post_logout_redirect_uris: uris.optional(),
    first_party: z.boolean().optional(),
    allowed_scopes: scopes.nullable().optional(),
    id_token_signed_response_alg: z.enum(['ES256', 'EdDSA', 'PS256', 'RS256']).nullable().optional(),
    backchannel_logout_uri: z.string().max(2_000).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to update');

/** Applications (OIDC clients), their secrets and service-account roles (SPEC §2, §8). */
export function applicationRoutes(deps: { services: Services }): RouteDef[] {
  const { clients, roles } = deps.services;
  // Disable and enable are one operation in two directions, guarded by the same capability.
  const toggle = (path: string, summary: string, disabled: boolean) =>
    route({
      method: 'post',
      path,
      tag: 'applications',
      summary,
      capabilities: ['applications:disable'],
      params: byId,
      response: applicationView,
      handler: async ({ access, params }) => view(await clients.setDisabled(access, params.id, disabled)),
    });
  return [
    route({
      method: 'get',
      path: '/applications',
      tag: 'applications',
      summary: 'List applications in creation order',
      capabilities: ['applications:view'],
      query: z.strictObject(pageQuery),
      response: pageOf(applicationView),
      handler: async ({ access, query }) => {
        const { rows, limit } = await clients.list(access, { limit: query.limit, after: decodeCursor(query.cursor, CURSORS.application) });
        const p = page(rows, limit, (r) => ({ k: r.sortKey, id: r.id }));
        return { items: p.items.map(view), next_cursor: p.next_cursor };
      },
    }),
    route({
      method: 'post',
      path: '/applications',
      tag: 'applications',
      summary: 'Register an application; a confidential one gets its secret here, once',
      capabilities: ['applications:create'],
      body: createBody,
      response: withSecret,
      status: 201,
      handler: async ({ access, body }) => {
        const { client, secret } = await clients.create(access, {
          name: body.name,
          type: body.type,
          redirectUris: body.redirect_uris,
          ...(body.post_logout_redirect_uris ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
          ...(body.first_party !== undefined ? { firstParty: body.first_party } : {}),
          ...(body.allowed_scopes !== undefined ? { allowedScopes: body.allowed_scopes } : {}),
          ...(body.id_token_signed_response_alg !== undefined ? { idTokenSignedResponseAlg: body.id_token_signed_response_alg } : {}),
          ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
        });
        return { ...view(client), client_secret: secret };
      },
    }),
    route({
      method: 'get',
      path: '/applications/:id',
      tag: 'applications',
      summary: 'Get an application',
      capabilities: ['applications:view'],
      params: byId,
      response: applicationView,
      handler: async ({ access, params }) => view(await clients.get(access, params.id)),
    }),
    route({
      method: 'patch',
      path: '/applications/:id',
      tag: 'applications',
      summary: 'Change an application’s settings (its type never changes)',
      capabilities: ['applications:edit'],
      params: byId,
      body: updateBody,
      response: applicationView,
      handler: async ({ access, params, body }) =>
        view(
          await clients.update(access, params.id, {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.redirect_uris !== undefined ? { redirectUris: body.redirect_uris } : {}),
            ...(body.post_logout_redirect_uris !== undefined ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
            ...(body.first_party !== undefined ? { firstParty: body.first_party } : {}),
            ...(body.allowed_scopes !== undefined ? { allowedScopes: body.allowed_scopes } : {}),
            ...(body.id_token_signed_response_alg !== undefined ? { idTokenSignedResponseAlg: body.id_token_signed_response_alg } : {}),
            ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
          }),
        ),
    }),
    route({
      method: 'delete',
      path: '/applications/:id',
      tag: 'applications',
      summary: 'Delete an application and its role assignments',
      capabilities: ['applications:delete'],
      params: byId,
      handler: async ({ access, params }) => clients.remove(access, params.id),
    }),
    route({
      method: 'post',
      path: '/applications/:id/rotate-secret',
      tag: 'applications',
      summary: 'Replace the client secret; the old one stops working at once',
      capabilities: ['applications:rotate_secret'],
      params: byId,
      response: z.object({ client_secret: z.string() }),
      handler: async ({ access, params }) => ({ client_secret: await clients.rotateSecret(access, params.id) }),
    }),
    toggle('/applications/:id/disable', 'Disable an application; its token requests fail at once', true),
    toggle('/applications/:id/enable', 'Re-enable a disabled application', false),
    route({
      method: 'get',
      path: '/applications/:id/roles',
      tag: 'applications',
      summary: 'Roles assigned to a service application',
      capabilities: ['applications:view'],
      params: byId,
      response: z.object({ items: z.array(clientRoleView) }),
      handler: async ({ access, params }) => ({ items: (await clients.roles(access, params.id)).map(roleView) }),
    }),
    route({
      method: 'put',
      path: '/applications/:id/roles/:slug',
      tag: 'applications',
      summary: 'Assign a role to a service application (idempotent)',
      capabilities: ['members:change_roles'],
      params: byIdAndRole,
      body: z.strictObject({ expires_at: isoDate.nullable().optional() }),
      response: assignmentResult,
      handler: async ({ access, params, body }) => roles.addAssignments(access, params.slug, { clients: [params.id] }, body.expires_at ?? null),
    }),
    route({
      method: 'delete',
      path: '/applications/:id/roles/:slug',
      tag: 'applications',
      summary: 'Remove a role from a service application (idempotent)',
      capabilities: ['members:change_roles'],
      params: byIdAndRole,
      response: assignmentResult,
      handler: async ({ access, params }) => roles.removeAssignments(access, params.slug, { clients: [params.id] }),
    }),
  ];
}
