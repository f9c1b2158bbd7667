import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';

let t: TestTessera;
let api: AdminApi;
let console: client.Configuration;

/** Everything a console might ask for, so the token shows exactly what the role grants. */
const ASK = 'openid offline_access users:view users:create users:delete users:suspend users:reset_password users:mfa_reset audit:read audit:export applications:view applications:edit authentication:view branding:view branding:edit reports:view members:change_roles';

beforeAll(async () => {
  t = await startTessera();
  api = await ownerApi(t);
  const app = await api.post('/applications', { name: 'Console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  expect(app.status).toBe(201);
  console = await discover(t.issuer, app.body.id, app.body.client_secret);
});
afterAll(() => t?.close());

const PATTERNS: { name: string; capabilities: string[]; expected: string[] }[] = [
  { name: 'Branding editor', capabilities: ['branding:view', 'branding:edit'], expected: ['branding:edit', 'branding:view'] },
  {
    name: 'External auditor',
    capabilities: ['audit:read', 'audit:export', 'users:view', 'applications:view', 'authentication:view'],
    expected: ['applications:view', 'audit:export', 'audit:read', 'authentication:view', 'users:view'],
  },
  {
    name: 'Customer Success Lead',
    capabilities: ['users:view', 'users:reset_password', 'users:mfa_reset', 'users:suspend', 'audit:read'],
    expected: ['audit:read', 'users:mfa_reset', 'users:reset_password', 'users:suspend', 'users:view'],
  },
  // Reviews who has access and what happened, without changing anything.
  { name: 'Compliance reviewer', capabilities: ['audit:read', 'audit:export', 'users:view', 'reports:view'], expected: ['audit:export', 'audit:read', 'reports:view', 'users:view'] },
];

describe('seed patterns, end to end over HTTP', () => {
  for (const pattern of PATTERNS) {
    it(`"${pattern.name}": role → group → member signs in → token carries exactly the role`, async () => {
      const role = await api.post('/roles', { name: pattern.name, capabilities: pattern.capabilities });
      expect(role.status).toBe(201);
      const group = await api.post('/groups', { name: `${pattern.name} group` });
      expect(group.status).toBe(201);
      expect((await api.post(`/roles/${role.body.slug}/assignments`, { groups: [group.body.id] })).body.changed.groups).toEqual([group.body.id]);
      const email = `${role.body.slug}@example.test`;
      const password = `password for ${role.body.slug}`;
      const user = await api.post('/users', { email, display_name: pattern.name, password });
      expect(user.status).toBe(201);
      expect((await api.post(`/groups/${group.body.id}/members`, { users: [user.body.id] })).status).toBe(200);

      const { tokens } = await signIn(t.issuer, console, { email, password }, { scope: ASK });
      const at = await verifyAccessToken(t.issuer, tokens.access_token);
      expect(at.sub).toBe(user.body.id);
      expect([...scopesOf(at)].sort()).toEqual(pattern.expected);

      // The same view from the user's side: the role arrives through the group.
      const roles = await api.get(`/users/${user.body.id}/roles`);
      expect(roles.body.direct).toEqual([]);
      expect(roles.body.via_groups.map((r: { slug: string }) => r.slug)).toEqual([role.body.slug]);
      expect(roles.body.capabilities).toEqual(pattern.expected);
    });
  }
});
