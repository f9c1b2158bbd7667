import * as client from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIRECT_URI, verifyAccessToken } from '../support/oidc.ts';
import { authorize, basic, OTHER_REDIRECT_URI, post, redeem, refresh, setupChecklist, type Checklist } from './checklist-support.ts';

let c: Checklist;

beforeAll(async () => {
  c = await setupChecklist();
});
afterAll(() => c?.t.close());

describe('authorization code redemption (CHECKLIST 2, 3, 4, 6)', () => {
  it('a redirect_uri at /token that differs from the authorization request gets invalid_grant', async () => {
    const a = await authorize(c, c.web.id);
    const res = await redeem(c, c.web, a, { redirect_uri: OTHER_REDIRECT_URI });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.access_token).toBeUndefined();
  });

  it('an omitted redirect_uri at /token is refused even though the client registered the one used', async () => {
    const a = await authorize(c, c.other.id);
    const res = await post(c.t.issuer, '/token', { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier }, c.other);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a reused code gets invalid_grant and revokes the tokens of its first redemption', async () => {
    const a = await authorize(c, c.web.id);
    const first = await redeem(c, c.web, a);
    expect(first.status).toBe(200);
    const rt = first.body.refresh_token as string;
    expect(rt).toEqual(expect.any(String));

    const second = await redeem(c, c.web, a);
    expect(second.status).toBe(400);
    expect(second.body.error).toBe('invalid_grant');

    const after = await refresh(c, c.web, rt);
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('invalid_grant');
    const introspected = await post(c.t.issuer, '/token/introspection', { token: rt }, c.web);
    expect(introspected.body).toEqual({ active: false });
  });

  it('20 concurrent redemptions of one code yield exactly one token response', async () => {
    const a = await authorize(c, c.web.id);
    const results = await Promise.all(Array.from({ length: 20 }, () => redeem(c, c.web, a)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.body.access_token).toEqual(expect.any(String));
    const failed = results.filter((r) => r.status !== 200);
    expect(failed).toHaveLength(19);
    for (const r of failed) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
    }
  });

  it('a code redeemed by another client gets invalid_grant, and stays usable by its own client', async () => {
    const a = await authorize(c, c.web.id);
    const stolen = await redeem(c, c.other, a);
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    const own = await redeem(c, c.web, a);
    expect(own.status).toBe(200);
  });

  it('an expired code gets invalid_grant', async () => {
    const { redis, keys } = c.t.server.core;
    const a = await authorize(c, c.web.id);
    const key = keys.oidcModel('AuthorizationCode', a.code);
    const stored = JSON.parse((await redis.hget(key, 'p'))!) as { exp: number; iat: number };
    const now = Math.floor(Date.now() / 1000);
    expect(stored.exp - stored.iat).toBe(60);
    // Move the code's lifetime into the past (issued 2 minutes ago, expired 1 minute ago).
    await redis.hset(key, 'p', JSON.stringify({ ...stored, iat: now - 120, exp: now - 60 }));
    const res = await redeem(c, c.web, a);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });
});

describe('PKCE at /token (CHECKLIST 7)', () => {
  it('a wrong code_verifier gets invalid_grant', async () => {
    const a = await authorize(c, c.spa.id);
    const res = await redeem(c, c.spa, { code: a.code, verifier: client.randomPKCECodeVerifier() });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('a missing code_verifier gets invalid_grant', async () => {
    const a = await authorize(c, c.web.id);
    const res = await post(c.t.issuer, '/token', { grant_type: 'authorization_code', code: a.code, redirect_uri: REDIRECT_URI }, c.web);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('a code_verifier shorter than 43 characters gets invalid_request', async () => {
    const a = await authorize(c, c.spa.id);
    const res = await redeem(c, c.spa, { code: a.code, verifier: a.verifier.slice(0, 42) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a code_verifier longer than 128 characters gets invalid_request', async () => {
    const a = await authorize(c, c.spa.id);
    const res = await redeem(c, c.spa, { code: a.code, verifier: 'a'.repeat(129) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a code_verifier with characters outside the unreserved set gets invalid_request', async () => {
    const a = await authorize(c, c.spa.id);
    const res = await redeem(c, c.spa, { code: a.code, verifier: `${a.verifier.slice(0, 42)}!+/=` });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('the right verifier still works for a public client (control)', async () => {
    const a = await authorize(c, c.spa.id);
    const res = await redeem(c, c.spa, a);
    expect(res.status).toBe(200);
  });
});

describe('access token shape (CHECKLIST 14)', () => {
  it('is an RFC 9068 JWT with typ=at+jwt and iss, aud, exp, sub, client_id, iat, jti', async () => {
    // A capability scope makes the token one for the admin API (a JWT), not for userinfo.
    const a = await authorize(c, c.web.id, { scope: 'openid offline_access users:view' });
    const before = Math.floor(Date.now() / 1000);
    const res = await redeem(c, c.web, a);
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    const token = res.body.access_token as string;
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    const at = await verifyAccessToken(c.t.issuer, token);
    expect(at.iss).toBe(c.t.issuer);
    expect(at.aud).toBe(`${c.t.issuer}/api`);
    expect(at.sub).toBe(c.user.id);
    expect(at.client_id).toBe(c.web.id);
    expect(at.iat).toBeGreaterThanOrEqual(before - 1);
    expect(at.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    expect(at.exp).toBe(at.iat! + (res.body.expires_in as number));
    expect(at.jti).toMatch(/^[\w-]{20,}$/);
  });
  // The "ID token sent to the admin API is rejected" half of this item waits for the admin API.
});

describe('malformed token requests (CHECKLIST 19)', () => {
  const headers = () => ({ 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.web) });

  it('a duplicated parameter gets 400 invalid_request', async () => {
    const a = await authorize(c, c.web.id);
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, redirect_uri: REDIRECT_URI });
    body.append('code', a.code);
    const res = await post(c.t.issuer, '/token', body.toString(), c.web);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    // The code was not consumed by the rejected request.
    expect((await redeem(c, c.web, a)).status).toBe(200);
  });

  it('a duplicated grant_type gets 400 invalid_request', async () => {
    const res = await post(c.t.issuer, '/token', 'grant_type=client_credentials&grant_type=authorization_code', c.web);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a body over 60KB gets 400 or 413, never 5xx', async () => {
    const body = `grant_type=authorization_code&code=x&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&pad=${'a'.repeat(61 * 1024)}`;
    const res = await fetch(new URL('/token', c.t.issuer), { method: 'POST', headers: headers(), body });
    expect([400, 413]).toContain(res.status);
    const json = (await res.json()) as { error?: string };
    expect(json.error).toBe('invalid_request');
  });

  it('a 1MB body gets 400 or 413, never 5xx, and the server keeps answering', async () => {
    const body = `grant_type=refresh_token&refresh_token=${'b'.repeat(1024 * 1024)}`;
    const res = await fetch(new URL('/token', c.t.issuer), { method: 'POST', headers: headers(), body }).catch((e: unknown) => e);
    // Node may see the socket closed mid-upload; what matters is no 5xx and a live server.
    if (res instanceof Response) expect([400, 413]).toContain(res.status);
    const discovery = await fetch(new URL('/.well-known/openid-configuration', c.t.issuer));
    expect(discovery.status).toBe(200);
  });
});
