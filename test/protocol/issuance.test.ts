import { sql } from 'drizzle-orm';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { ALL_CAPABILITY_IDS } from '../../src/catalogue/index.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';

let t: TestTessera;
let web: client.Configuration;
const user = { email: 'ada@example.test', password: 'correct horse battery staple' };
let userId: string;

beforeAll(async () => {
  t = await startTessera();
  const { services } = t.server.core;
  const created = await services.clients.create(ownerAccess(t.tenantId), {
    name: 'Console',
    type: 'web',
    firstParty: true,
    redirectUris: [REDIRECT_URI],
  });
  web = await discover(t.issuer, created.client.id, created.secret!);
  userId = (await services.users.create(ownerAccess(t.tenantId), user)).id;
});
afterAll(() => t?.close());

describe('authorization code + PKCE through the login form', () => {
  it('issues an RFC 9068 access token whose scope comes from the user roles', async () => {
    const { roles } = t.server.core.services;
    await roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id: userId });
    const { tokens } = await signIn(t.issuer, web, user, { scope: 'openid offline_access users:view users:edit audit:read' });
    const at = await verifyAccessToken(t.issuer, tokens.access_token);
    expect(at.sub).toBe(userId);
    expect(at.tid).toBe(t.tenantId);
    expect(at.client_id).toBe(web.clientMetadata().client_id);
    expect(at.sid).toEqual(expect.any(String));
    expect(at.auth_time).toEqual(expect.any(Number));
    expect(at.jti).toEqual(expect.any(String));
    expect(at.exp! - at.iat!).toBe(300);
    // viewer holds users:view and audit:read; users:edit is requested but not held, so it is left out.
    expect([...scopesOf(at)].sort()).toEqual(['audit:read', 'users:view']);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    await roles.unassign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id: userId });
  });
});

describe('nested groups', () => {
  it('a member of a child group inherits the parent group role', async () => {
    const { groups, roles, users } = t.server.core.services;
    const member = { email: 'nested@example.test', password: 'nested password 123' };
    const memberId = (await users.create(ownerAccess(t.tenantId), member)).id;
    const parent = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Support' });
    const child = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Support EMEA' });
    const grandchild = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Support EMEA nights' });
    await groups.addSubgroup(ownerAccess(t.tenantId), parent.id, child.id);
    await groups.addSubgroup(ownerAccess(t.tenantId), child.id, grandchild.id);
    await groups.addMember(ownerAccess(t.tenantId), grandchild.id, memberId);
    await roles.assign(ownerAccess(t.tenantId), 'operator', { type: 'group', id: parent.id });

    const { tokens } = await signIn(t.issuer, web, member, { scope: 'openid offline_access users:suspend users:delete' });
    const at = await verifyAccessToken(t.issuer, tokens.access_token);
    expect([...scopesOf(at)].sort()).toEqual(['users:suspend']);

    // Cutting the middle edge removes the inheritance at the next issuance.
    await groups.removeSubgroup(ownerAccess(t.tenantId), parent.id, child.id);
    const refreshed = await client.refreshTokenGrant(web, tokens.refresh_token!);
    expect(scopesOf(await verifyAccessToken(t.issuer, refreshed.access_token)).size).toBe(0);
  });

  it('rejects a cycle with 409 group_cycle', async () => {
    const { groups } = t.server.core.services;
    const a = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Cycle A' });
    const b = await groups.createGroup(ownerAccess(t.tenantId), { name: 'Cycle B' });
    await groups.addSubgroup(ownerAccess(t.tenantId), a.id, b.id);
    await expect(groups.addSubgroup(ownerAccess(t.tenantId), b.id, a.id)).rejects.toMatchObject({ status: 409, code: 'group_cycle' });
    await expect(groups.addSubgroup(ownerAccess(t.tenantId), a.id, a.id)).rejects.toMatchObject({ code: 'group_cycle' });
  });
});

describe('role changes show at the next refresh', () => {
  it('adds and removes capabilities at refresh while the old access token keeps its scopes', async () => {
    const { roles, users } = t.server.core.services;
    const person = { email: 'refresh@example.test', password: 'refresh password 123' };
    const id = (await users.create(ownerAccess(t.tenantId), person)).id;
    const editor = await roles.create(ownerAccess(t.tenantId), { name: 'Branding editor', capabilities: ['branding:edit'] });
    expect(editor.capabilities).toEqual(['branding:edit', 'branding:view']);

    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid offline_access branding:view branding:edit' });
    const first = await verifyAccessToken(t.issuer, tokens.access_token);
    expect(scopesOf(first).size).toBe(0);

    await roles.assign(ownerAccess(t.tenantId), editor.slug, { type: 'user', id });
    const second = await client.refreshTokenGrant(web, tokens.refresh_token!);
    expect([...scopesOf(await verifyAccessToken(t.issuer, second.access_token))].sort()).toEqual(['branding:edit', 'branding:view']);
    // Already-issued tokens are untouched: the first token still verifies with its original (empty) scope.
    expect(scopesOf(await verifyAccessToken(t.issuer, tokens.access_token)).size).toBe(0);

    await roles.unassign(ownerAccess(t.tenantId), editor.slug, { type: 'user', id });
    const third = await client.refreshTokenGrant(web, second.refresh_token!);
    expect(scopesOf(await verifyAccessToken(t.issuer, third.access_token)).size).toBe(0);
    expect([...scopesOf(await verifyAccessToken(t.issuer, second.access_token))].sort()).toEqual(['branding:edit', 'branding:view']);
  });

  it('an expired time-bound assignment stops counting at issuance', async () => {
    const { roles, users } = t.server.core.services;
    const person = { email: 'temp@example.test', password: 'temporary password 1' };
    const id = (await users.create(ownerAccess(t.tenantId), person)).id;
    await roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id }, new Date(Date.now() + 3_600_000));
    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid offline_access reports:view' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, tokens.access_token))]).toEqual(['reports:view']);
    // Time is controlled, not raced: the expiry moves to a moment the database's clock has passed,
    // through a tenant change so every cache sees it (a real expiry is the same row, reached by waiting).
    await t.server.core.services.change(t.tenantId, (tx) => tx.execute(sql`update user_roles set expires_at = now() - interval '1 second' where user_id = ${id}`));
    const later = await client.refreshTokenGrant(web, tokens.refresh_token!);
    expect(scopesOf(await verifyAccessToken(t.issuer, later.access_token)).size).toBe(0);
  });
});

describe('suspension', () => {
  it("a suspended user's refresh fails with invalid_grant", async () => {
    const { users } = t.server.core.services;
    const person = { email: 'suspend@example.test', password: 'suspend password 12' };
    const id = (await users.create(ownerAccess(t.tenantId), person)).id;
    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid offline_access' });
    await users.setStatus(ownerAccess(t.tenantId), id, 'suspended');
    await expect(client.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('client credentials', () => {
  it('a service client gets the scopes of its own roles, all of them when no scope is asked', async () => {
    const { clients, roles } = t.server.core.services;
    const svc = await clients.create(ownerAccess(t.tenantId), { name: 'Reporter', type: 'service' });
    await roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
    const cfg = await discover(t.issuer, svc.client.id, svc.secret!);

    const all = await client.clientCredentialsGrant(cfg);
    const payload = await verifyAccessToken(t.issuer, all.access_token);
    expect(payload.sub).toBe(svc.client.id);
    expect(payload.tid).toBe(t.tenantId);
    expect([...scopesOf(payload)].sort()).toEqual(['applications:view', 'audit:read', 'authentication:view', 'branding:view', 'mfa:view', 'reports:view', 'users:view']);

    const narrowed = await client.clientCredentialsGrant(cfg, { scope: 'users:view users:delete' });
    expect([...scopesOf(await verifyAccessToken(t.issuer, narrowed.access_token))]).toEqual(['users:view']);

    await expect(client.clientCredentialsGrant(cfg, { scope: 'users:view nonsense' })).rejects.toMatchObject({ error: 'invalid_scope' });

    await roles.unassign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
    const none = await client.clientCredentialsGrant(cfg);
    expect(scopesOf(await verifyAccessToken(t.issuer, none.access_token)).size).toBe(0);
  });

  it('the bootstrap automation client holds Owner', async () => {
    const cfg = await discover(t.issuer, t.admin.id, t.admin.secret);
    const res = await client.clientCredentialsGrant(cfg);
    const scopes = scopesOf(await verifyAccessToken(t.issuer, res.access_token));
    expect(scopes.has('tenant:transfer_ownership')).toBe(true);
    expect(scopes.size).toBe(ALL_CAPABILITY_IDS.length);
  });
});
