import { randomBytes } from 'node:crypto';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { loadOrCreateKeys } from '../../src/services/signingKeys.ts';
import { ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { post, type Creds } from './checklist-support.ts';

let t: TestTessera;
let owner: AdminApi;
let web: Creds;
let other: Creds;
let spa: Creds;

const introspect = (token: string, creds?: Creds) => post(t.issuer, '/token/introspection', { token }, creds);

async function app(name: string, type: 'web' | 'spa'): Promise<Creds> {
  const res = await owner.post('/applications', { name, type, first_party: true, redirect_uris: [REDIRECT_URI] });
  expect(res.status).toBe(201);
  return { id: res.body.id, ...(res.body.client_secret ? { secret: res.body.client_secret } : {}) };
}

/** A fresh user holding users:view, signed in through `via`: an RFC 9068 JWT for the admin API. */
async function userToken(via: Creds = web) {
  const email = `u-${randomBytes(4).toString('hex')}@example.test`;
  const password = `password of ${email}`;
  const user = await owner.post('/users', { email, password });
  await owner.post('/roles', { name: `Viewer ${email}`, capabilities: ['users:view'], assign: { users: [user.body.id] } });
  const { tokens } = await signIn(t.issuer, await discover(t.issuer, via.id, via.secret), { email, password }, { scope: 'openid users:view' });
  expect(tokens.access_token.split('.')).toHaveLength(3);
  return { id: user.body.id as string, token: tokens.access_token };
}

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  web = await app('Web', 'web');
  other = await app('Other', 'web');
  spa = await app('Spa', 'spa');
});
afterAll(() => t?.close());

describe('introspection of JWT access tokens (RFC 7662)', () => {
  it('answers active with the token claims to its own client and to a confidential client of the tenant', async () => {
    const { id, token } = await userToken();
    const own = await introspect(token, web);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({
      active: true,
      scope: 'users:view',
      client_id: web.id,
      sub: id,
      iss: t.issuer,
      aud: `${t.issuer}/api`,
      tid: t.tenantId,
      token_type: 'Bearer',
      exp: expect.any(Number),
      iat: expect.any(Number),
      jti: expect.any(String),
      sid: expect.any(String),
      auth_time: expect.any(Number),
    });
    expect((await introspect(token, other)).body).toMatchObject({ active: true, sub: id });
    // A public client sees only its own tokens.
    expect((await introspect(token, spa)).body).toEqual({ active: false });
  });

  it('a service token is active while its client is enabled, and inactive once it is disabled', async () => {
    const svc = await owner.post('/applications', { name: 'Worker', type: 'service' });
    const creds = { id: svc.body.id as string, secret: svc.body.client_secret as string };
    await owner.put(`/applications/${creds.id}/roles/viewer`, {});
    const token = await serviceToken(t, creds.id, creds.secret);
    expect((await introspect(token, creds)).body).toMatchObject({ active: true, sub: creds.id, client_id: creds.id });
    expect((await owner.post(`/applications/${creds.id}/disable`)).status).toBe(200);
    expect((await introspect(token, web)).body).toEqual({ active: false });
  });

  it("a user token is inactive once the user's sessions are revoked", async () => {
    const { id, token } = await userToken();
    expect((await introspect(token, web)).body.active).toBe(true);
    expect((await owner.delete(`/users/${id}/sessions`)).status).toBe(200);
    expect((await introspect(token, web)).body).toEqual({ active: false });
  });

  it('a user token is inactive once the user is suspended', async () => {
    const { id, token } = await userToken();
    expect((await owner.post(`/users/${id}/suspend`)).status).toBe(200);
    expect((await introspect(token, web)).body).toEqual({ active: false });
  });

  it('a token whose client was disabled is inactive', async () => {
    const doomed = await app('Doomed', 'web');
    const { token } = await userToken(doomed);
    expect((await introspect(token, other)).body.active).toBe(true);
    expect((await owner.post(`/applications/${doomed.id}/disable`)).status).toBe(200);
    expect((await introspect(token, other)).body).toEqual({ active: false });
  });

  it('an expired token and a token signed by a foreign key are inactive', async () => {
    const { token } = await userToken();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const keys = await loadOrCreateKeys(t.server.core.db, t.server.core.config.TESSERA_SIGNING_ALG);
    const signing = keys.jwks.keys[0] as JWK & { kid: string; alg: string };
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 600, exp: now - 300 })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
      .sign(await importJWK(signing, signing.alg));
    expect((await introspect(expired, web)).body).toEqual({ active: false });

    const foreign = await generateKeyPair('ES256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: signing.kid, typ: 'at+jwt' }).sign(foreign.privateKey);
    expect((await introspect(forged, web)).body).toEqual({ active: false });
  });

  it("another tenant's token is inactive, and another tenant's client sees nothing of ours", async () => {
    const foreign = (await bootstrapTenant(t.server.core, { tenant: `x-${randomBytes(4).toString('hex')}` }))!.client;
    const foreignToken = await serviceToken(t, foreign.id, foreign.secret);
    expect((await introspect(foreignToken, foreign)).body.active).toBe(true);
    expect((await introspect(foreignToken, web)).body).toEqual({ active: false });
    const { token } = await userToken();
    expect((await introspect(token, foreign)).body).toEqual({ active: false });
  });

  it('an unauthenticated caller gets 401 invalid_client, not the token state', async () => {
    const { token } = await userToken();
    const res = await introspect(token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    const wrong = await introspect(token, { id: web.id, secret: 'wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.active).toBeUndefined();
  });

  it('garbage that only looks like a JWT is inactive', async () => {
    const res = await introspect('eyJhbGciOiJFUzI1NiJ9.e30.c2ln', web);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: false });
  });
});
