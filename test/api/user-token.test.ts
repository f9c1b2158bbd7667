import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { adminApi, ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';

let t: TestTessera;
let owner: AdminApi;
let web: client.Configuration;

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const app = await owner.post('/applications', { name: 'Console', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.body.id, app.body.client_secret);
});
afterAll(() => t?.close());

/** A user holding a custom role with `capabilities`, signed in through the login form. */
async function signedInUser(email: string, capabilities: string[]) {
  const password = `password for ${email}`;
  const created = await owner.post('/users', { email, password });
  const role = await owner.post('/roles', { name: `Role of ${email}`, capabilities, assign: { users: [created.body.id] } });
  expect(role.status).toBe(201);
  const { tokens } = await signIn(t.issuer, web, { email, password }, { scope: `openid offline_access ${capabilities.join(' ')}` });
  return { id: created.body.id as string, tokens, api: adminApi(t, tokens.access_token) };
}

describe('user tokens at the admin API', () => {
  it('a user cannot add themselves to a group that holds a stronger role (CHECKLIST 22)', async () => {
    const me = await signedInUser('climber@example.test', ['members:change_roles', 'users:view']);
    const admins = await owner.post('/groups', { name: 'Admins' });
    await owner.put(`/groups/${admins.body.id}/roles/administrator`, {});
    const attempt = await me.api.post(`/groups/${admins.body.id}/members`, { users: [me.id] });
    expect(attempt.status).toBe(403);
    expect(attempt.body.code).toBe('escalation_denied');
    expect((await owner.get(`/groups/${admins.body.id}/members`)).body.items).toEqual([]);
    // Nor through a role assignment to themselves.
    expect((await me.api.put(`/users/${me.id}/roles/administrator`, {})).body.code).toBe('escalation_denied');
    // What the user does hold still works.
    expect((await me.api.get('/users')).status).toBe(200);
  });

  it('an ID token is not an access token for the admin API (CHECKLIST 14)', async () => {
    const me = await signedInUser('id-token@example.test', ['users:view']);
    expect((await me.api.get('/users')).status).toBe(200);
    const withIdToken = await adminApi(t, me.tokens.id_token!).get('/users');
    expect(withIdToken.status).toBe(401);
    expect(withIdToken.body.code).toBe('invalid_token');
  });

  it('a token is refused as soon as its user is suspended, and stays refused after reactivation', async () => {
    const me = await signedInUser('suspended@example.test', ['users:view']);
    expect((await me.api.get('/users')).status).toBe(200);
    expect((await owner.post(`/users/${me.id}/suspend`)).status).toBe(200);
    const refused = await me.api.get('/users');
    expect(refused.status).toBe(401);
    await owner.post(`/users/${me.id}/unsuspend`);
    // Suspension recorded a revocation time: the old token stays dead even though the user is active again.
    expect((await me.api.get('/users')).status).toBe(401);
  });

  it('a token whose scopes lack the capability gets 403 insufficient_scope even if the user holds it', async () => {
    const password = 'narrow token password';
    const u = await owner.post('/users', { email: 'narrow@example.test', password });
    await owner.put(`/users/${u.body.id}/roles/administrator`, {});
    const { tokens } = await signIn(t.issuer, web, { email: 'narrow@example.test', password }, { scope: 'openid users:view' });
    const res = await adminApi(t, tokens.access_token).post('/roles', { name: 'Wide', capabilities: ['users:view'] });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
  });

  it('the audit actor of a user-token change is the user', async () => {
    const me = await signedInUser('actor@example.test', ['members:change_roles', 'users:view', 'reports:view']);
    expect((await me.api.post('/roles', { name: 'Made by a user', capabilities: ['reports:view'] })).status).toBe(201);
    const events = await owner.get('/audit-events?action=role.created&target_id=made-by-a-user');
    expect(events.body.items[0].actor).toEqual({ type: 'user', id: me.id });
  });
});
