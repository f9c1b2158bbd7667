import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/** SPEC §6 "Userinfo": the JWT access tokens clients actually receive are accepted at userinfo. */
let t: TestTessera;
let owner: AdminApi;
let web: client.Configuration;
const person = { email: 'userinfo@example.test', password: 'userinfo password 1' };
let userId: string;

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const app = await owner.post('/applications', { name: 'RP', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.body.id, app.body.client_secret);
  userId = (await t.server.core.services.users.create(ownerAccess(t.tenantId), { ...person, displayName: 'User Info' })).id;
  await t.server.core.services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id: userId });
});
afterAll(() => t?.close());

const userinfo = (token: string) => fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });

describe('userinfo', () => {
  it('answers openid-client’s fetchUserInfo for the JWT access token of a sign-in that asked for a capability', async () => {
    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid profile email users:view' });
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const claims = await client.fetchUserInfo(web, tokens.access_token, client.skipSubjectCheck);
    expect(claims).toEqual({ sub: userId, name: 'User Info', email: person.email, email_verified: false });
  });

  it('returns only the claims of the granted OIDC scopes', async () => {
    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid users:view' });
    expect(await (await userinfo(tokens.access_token)).json()).toEqual({ sub: userId });
  });

  it('answers a browser RP from its redirect origin with CORS headers (preflight included), and no other origin', async () => {
    const spaOrigin = new URL(REDIRECT_URI).origin;
    const spa = await owner.post('/applications', { name: 'SPA', type: 'spa', redirect_uris: [REDIRECT_URI], first_party: true });
    const config = await discover(t.issuer, spa.body.id);
    const { tokens } = await signIn(t.issuer, config, person, { scope: 'openid users:view' });
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const preflight = await fetch(`${t.issuer}/me`, {
      method: 'OPTIONS',
      headers: { origin: spaOrigin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(spaOrigin);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const ok = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, origin: spaOrigin } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(spaOrigin);
    const elsewhere = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, origin: 'https://evil.example' } });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a token without openid (client credentials), a tampered one, and one issued before a revoke-all', async () => {
    const cc = await userinfo(await serviceToken(t, t.admin.id, t.admin.secret));
    expect(cc.status).toBe(401);
    expect(cc.headers.get('www-authenticate')).toContain('invalid_token');
    const { tokens } = await signIn(t.issuer, web, person, { scope: 'openid users:view' });
    const [h, p, s] = tokens.access_token.split('.');
    expect((await userinfo(`${h}.${p}.${s!.slice(0, -4)}AAAA`)).status).toBe(401);
    // The revocation time is whole seconds: a token from the same second counts as issued before it.
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await owner.delete(`/users/${userId}/sessions`)).status).toBe(200);
    expect((await userinfo(tokens.access_token)).status).toBe(401);
  });
});
