import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';

let t: TestTessera;
let api: AdminApi;
let web: client.Configuration;

beforeAll(async () => {
  t = await startTessera();
  api = await ownerApi(t);
  const app = await t.server.core.services.clients.create(ownerAccess(t.tenantId), { name: 'Console', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.client.id, app.secret!);
});
afterAll(() => t?.close());

async function person(email: string) {
  const password = `password of ${email}`;
  const id = (await t.server.core.services.users.create(ownerAccess(t.tenantId), { email, password })).id;
  return { id, email, password };
}

const scopesAfterRefresh = async (refreshToken: string) => {
  const next = await client.refreshTokenGrant(web, refreshToken);
  return { scopes: [...scopesOf(await verifyAccessToken(t.issuer, next.access_token))].sort(), refresh: next.refresh_token! };
};

describe('a lost role leaves the next token (CHECKLIST 11)', () => {
  it('removed directly', async () => {
    const u = await person('lost-direct@example.test');
    await api.post('/roles', { name: 'Direct', capabilities: ['reports:view'] });
    await api.post('/roles/direct/assignments', { users: [u.id] });
    const { tokens } = await signIn(t.issuer, web, u, { scope: 'openid reports:view' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))]).toEqual(['reports:view']);
    await api.post('/roles/direct/assignments/remove', { users: [u.id] });
    expect((await scopesAfterRefresh(tokens.refresh_token!)).scopes).toEqual([]);
  });

  it('removed from the group, or the user removed from the group', async () => {
    const u = await person('lost-group@example.test');
    const { groups } = t.server.core.services;
    const g = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Lost group' });
    await groups.addMember(ownerAccess(t.tenantId), g.id, u.id);
    await api.post('/roles', { name: 'Via group', capabilities: ['branding:edit'] });
    await api.post('/roles/via-group/assignments', { groups: [g.id] });
    const { tokens } = await signIn(t.issuer, web, u, { scope: 'openid branding:edit branding:view' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))].sort()).toEqual(['branding:edit', 'branding:view']);
    await api.post('/roles/via-group/assignments/remove', { groups: [g.id] });
    const first = await scopesAfterRefresh(tokens.refresh_token!);
    expect(first.scopes).toEqual([]);
    await api.post('/roles/via-group/assignments', { groups: [g.id] });
    const second = await scopesAfterRefresh(first.refresh);
    expect(second.scopes).toEqual(['branding:edit', 'branding:view']);
    await groups.removeMember(ownerAccess(t.tenantId), g.id, u.id);
    expect((await scopesAfterRefresh(second.refresh)).scopes).toEqual([]);
  });

  it('several roles deleted at once', async () => {
    const u = await person('lost-many@example.test');
    for (const [name, cap] of [['Many one', 'reports:view'], ['Many two', 'audit:read'], ['Many three', 'users:view']] as const) {
      await api.post('/roles', { name, capabilities: [cap], assign: { users: [u.id] } });
    }
    const { tokens } = await signIn(t.issuer, web, u, { scope: 'openid reports:view audit:read users:view' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))].sort()).toEqual(['audit:read', 'reports:view', 'users:view']);
    const deletions = await Promise.all(['many-one', 'many-two'].map((slug) => api.delete(`/roles/${slug}?strategy=unassign`)));
    expect(deletions.map((d) => d.status)).toEqual([200, 200]);
    expect((await scopesAfterRefresh(tokens.refresh_token!)).scopes).toEqual(['users:view']);
  });
});
