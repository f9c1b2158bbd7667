import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { discover } from '../support/oidc.ts';
import { post, refresh, setupChecklist, tokensFor, type Checklist } from './checklist-support.ts';

let c: Checklist;

beforeAll(async () => {
  c = await setupChecklist();
});
afterAll(() => c?.t.close());

describe('refresh token rotation (CHECKLIST 5, 9)', () => {
  it('two concurrent refreshes with one refresh token yield exactly one token response', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const results = await Promise.all([refresh(c, c.web, refresh_token), refresh(c, c.web, refresh_token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(results.find((r) => r.status === 400)!.body.error).toBe('invalid_grant');
  });

  it('reusing a rotated refresh token gets invalid_grant and revokes the whole grant', async () => {
    const { refresh_token: rt0 } = await tokensFor(c, c.web);
    const first = await refresh(c, c.web, rt0);
    expect(first.status).toBe(200);
    const rt1 = first.body.refresh_token as string;
    expect(rt1).toEqual(expect.any(String));
    expect(rt1).not.toBe(rt0);

    const reuse = await refresh(c, c.web, rt0);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');

    // The newest token of the same grant dies with it.
    const newest = await refresh(c, c.web, rt1);
    expect(newest.status).toBe(400);
    expect(newest.body.error).toBe('invalid_grant');
  });

  it('a refresh chain works with openid-client when nothing is reused (control)', async () => {
    const cfg = await discover(c.t.issuer, c.web.id, c.web.secret);
    const { refresh_token } = await tokensFor(c, c.web);
    const one = await client.refreshTokenGrant(cfg, refresh_token);
    const two = await client.refreshTokenGrant(cfg, one.refresh_token!);
    expect(two.refresh_token).toEqual(expect.any(String));
  });
});

describe('refresh token scope and binding (CHECKLIST 10)', () => {
  it('asking for a wider OIDC scope at refresh gets invalid_scope', async () => {
    const { refresh_token } = await tokensFor(c, c.web, { scope: 'openid offline_access' });
    const res = await refresh(c, c.web, refresh_token, { scope: 'openid offline_access email' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_scope');
    // The refused request did not burn the token.
    expect((await refresh(c, c.web, refresh_token)).status).toBe(200);
  });

  it('asking for a capability scope the grant never had gets invalid_scope', async () => {
    const { refresh_token } = await tokensFor(c, c.web, { scope: 'openid offline_access' });
    const res = await refresh(c, c.web, refresh_token, { scope: 'openid users:view' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_scope');
  });

  it('a narrower scope at refresh is accepted (control)', async () => {
    const { refresh_token } = await tokensFor(c, c.web, { scope: 'openid offline_access email' });
    const res = await refresh(c, c.web, refresh_token, { scope: 'openid' });
    expect(res.status).toBe(200);
  });

  it('a refresh token presented by another client gets invalid_grant and stays usable by its own client', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const stolen = await refresh(c, c.other, refresh_token);
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    const publicThief = await refresh(c, c.spa, refresh_token);
    expect(publicThief.status).toBe(400);
    expect(publicThief.body.error).toBe('invalid_grant');
    expect((await refresh(c, c.web, refresh_token)).status).toBe(200);
  });
});

describe('introspection and revocation (CHECKLIST 20)', () => {
  it('introspection without client authentication gets 401 invalid_client', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const res = await post(c.t.issuer, '/token/introspection', { token: refresh_token });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(res.body.active).toBeUndefined();
  });

  it('introspection with a wrong client secret gets 401 invalid_client', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const res = await post(c.t.issuer, '/token/introspection', { token: refresh_token }, { id: c.web.id, secret: 'wrong-secret' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('revocation without client authentication gets 401 invalid_client and revokes nothing', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const res = await post(c.t.issuer, '/token/revocation', { token: refresh_token });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect((await refresh(c, c.web, refresh_token)).status).toBe(200);
  });

  it("introspecting another client's refresh token answers active:false, to confidential and public callers", async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const own = await post(c.t.issuer, '/token/introspection', { token: refresh_token }, c.web);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ active: true, client_id: c.web.id, sub: c.user.id });

    const confidential = await post(c.t.issuer, '/token/introspection', { token: refresh_token }, c.other);
    expect(confidential.status).toBe(200);
    expect(confidential.body).toEqual({ active: false });
    const pub = await post(c.t.issuer, '/token/introspection', { token: refresh_token }, c.spa);
    expect(pub.status).toBe(200);
    expect(pub.body).toEqual({ active: false });
  });

  it('an opaque access token is visible to a confidential client of its tenant only, never across tenants', async () => {
    // Without a capability scope the access token is for userinfo, opaque and stored.
    const { access_token, refresh_token } = await tokensFor(c, c.web, { scope: 'openid offline_access' });
    expect(access_token.split('.')).toHaveLength(1);
    const sameTenant = await post(c.t.issuer, '/token/introspection', { token: access_token }, c.other);
    expect(sameTenant.body).toMatchObject({ active: true, client_id: c.web.id });

    const foreign = (await bootstrapTenant(c.t.server.core, { tenant: `x-${randomBytes(4).toString('hex')}` }))!.client;
    for (const token of [access_token, refresh_token]) {
      const res = await post(c.t.issuer, '/token/introspection', { token }, foreign);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ active: false });
    }
    const revoke = await post(c.t.issuer, '/token/revocation', { token: refresh_token }, foreign);
    expect(revoke.status).toBe(400);
    expect(revoke.body.error).toBe('invalid_request');
    expect((await refresh(c, c.web, refresh_token)).status).toBe(200);
  });

  it("revoking another client's refresh token has no effect", async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const confidential = await post(c.t.issuer, '/token/revocation', { token: refresh_token, token_type_hint: 'refresh_token' }, c.other);
    expect(confidential.status).toBe(400);
    expect(confidential.body.error).toBe('invalid_request');
    const pub = await post(c.t.issuer, '/token/revocation', { token: refresh_token }, c.spa);
    expect(pub.status).toBe(200);

    const still = await refresh(c, c.web, refresh_token);
    expect(still.status).toBe(200);
  });

  it('revoking its own refresh token works (control)', async () => {
    const { refresh_token } = await tokensFor(c, c.web);
    const res = await post(c.t.issuer, '/token/revocation', { token: refresh_token }, c.web);
    expect(res.status).toBe(200);
    const after = await refresh(c, c.web, refresh_token);
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('invalid_grant');
  });
});
