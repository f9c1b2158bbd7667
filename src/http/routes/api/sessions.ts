import { z } from 'zod';
import type { SessionService } from '../../../services/sessions.ts';
import { route, type RouteDef } from '../../api/route.ts';
import { uuid } from './schemas.ts';

const counts = z.object({ sessions: z.number(), grants: z.number(), refresh_tokens: z.number(), access_tokens: z.number(), codes: z.number() });
const session = z.object({
  id: z.string(),
  clients: z.array(z.string()),
  created_at: z.string().nullable(),
  last_active_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
});

/** A user's sign-in sessions, and forced re-authentication (SPEC §7). */
export function sessionRoutes(deps: { sessions: SessionService }): RouteDef[] {
  const { sessions } = deps;
  return [
    route({
      method: 'get',
      path: '/users/:id/sessions',
      tag: 'sessions',
      summary: "List a user's sign-in sessions",
      capabilities: ['users:view'],
      params: z.strictObject({ id: uuid }),
      response: z.object({ items: z.array(session), next_cursor: z.null() }),
      handler: async ({ access, params }) => ({ items: await sessions.list(access, params.id), next_cursor: null }),
    }),
    route({
      method: 'delete',
      path: '/users/:id/sessions/:sid',
      tag: 'sessions',
      summary: 'Revoke one session, the grants it authorised and their tokens',
      capabilities: ['users:revoke_sessions'],
      params: z.strictObject({ id: uuid, sid: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/) }),
      response: counts,
      handler: ({ access, params }) => sessions.revoke(access, params.id, params.sid),
    }),
    route({
      method: 'delete',
      path: '/users/:id/sessions',
      tag: 'sessions',
      summary: 'Revoke every session, grant and token of a user; existing access tokens are refused from now on',
      capabilities: ['users:revoke_sessions'],
      params: z.strictObject({ id: uuid }),
      response: counts.extend({ revoked_at: z.string() }),
      handler: ({ access, params }) => sessions.revokeAll(access, params.id),
    }),
  ];
}
