import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { followFeed } from '../support/feed.ts';
import { auditEvents } from '../support/audit.ts';
import { Browser } from '../support/browser.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';

let t: TestTessera;
let owner: AdminApi;
let webA: client.Configuration;
let webB: client.Configuration;

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const a = await owner.post('/applications', { name: 'App A', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  const b = await owner.post('/applications', { name: 'App B', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  webA = await discover(t.issuer, a.body.id, a.body.client_secret);
  webB = await discover(t.issuer, b.body.id, b.body.client_secret);
});
afterAll(() => t?.close());

async function person(email: string) {
  const password = `password of ${email}`;
  const res = await owner.post('/users', { email, password });
  await owner.put(`/users/${res.body.id}/roles/viewer`, {});
  return { id: res.body.id as string, email, password };
}

const SCOPE = 'openid offline_access users:view';

/** What /auth does with a browser's cookies: straight back to the client (SSO) or the login page. */
async function authorizeWith(browser: Browser, config: client.Configuration): Promise<'login' | 'redirect'> {
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res, url: at } = await browser.follow(url.toString(), t.issuer);
  if (at.startsWith(REDIRECT_URI)) return 'redirect';
  const html = await res.text();
  if (html.includes('name="password"')) return 'login';
  throw new Error(`unexpected page at ${at}: ${res.status}`);
}

describe('revoke-all, end to end (SPEC §7)', () => {
  it('two browsers and two clients lose everything; a second user keeps theirs', async () => {
    const ada = await person('ada.revoke@example.test');
    const bob = await person('bob.revoke@example.test');
    const one = await signIn(t.issuer, webA, ada, { scope: SCOPE });
    const two = await signIn(t.issuer, webB, ada, { scope: SCOPE });
    const bobs = await signIn(t.issuer, webA, bob, { scope: SCOPE });

    // Before: SSO works from both browsers, both sessions are listed with where they came from.
    expect(await authorizeWith(one.browser, webA)).toBe('redirect');
    const listed = await owner.get(`/users/${ada.id}/sessions`);
    expect(listed.body.items).toHaveLength(2);
    for (const s of listed.body.items) {
      expect(s).toMatchObject({ id: expect.any(String), ip: expect.stringContaining('127.0.0.1'), user_agent: expect.any(String), created_at: expect.any(String), last_active_at: expect.any(String), expires_at: expect.any(String) });
    }
    expect(listed.body.items.flatMap((s: { clients: string[] }) => s.clients).sort()).toEqual([webA.clientMetadata().client_id, webB.clientMetadata().client_id].sort());
    expect((await adminApi(t, one.tokens.access_token).get('/users')).status).toBe(200);

    // A resource server following the revocation feed, and one using introspection.
    const feed = await followFeed(t.issuer, (await serviceToken(t, t.admin.id, t.admin.secret)));
    expect(feed.res.status).toBe(200);
    const introspect = async (token: string) => {
      const meta = webA.clientMetadata();
      const res = await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${meta.client_id}:${meta.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      return (await res.json()) as { active: boolean; sub?: string };
    };
    expect(await introspect(one.tokens.access_token)).toMatchObject({ active: true, sub: ada.id });

    const revokedAtMs = Date.now();
    const revoked = await owner.delete(`/users/${ada.id}/sessions`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ sessions: 2, grants: 2, revoked_at: expect.any(String) });
    expect(revoked.body.refresh_tokens).toBeGreaterThanOrEqual(2);

    // Both refresh tokens are dead, with invalid_grant.
    await expect(client.refreshTokenGrant(webA, one.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(webB, two.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Each old cookie leads to the login page.
    expect(await authorizeWith(one.browser, webA)).toBe('login');
    expect(await authorizeWith(two.browser, webB)).toBe('login');
    // The still-unexpired access token is refused by the admin API at once.
    const stale = await adminApi(t, one.tokens.access_token).get('/users');
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe('invalid_token');
    expect((await owner.get(`/users/${ada.id}/sessions`)).body.items).toEqual([]);
    // Introspection says inactive, and the feed delivered the event within 1 s of the call.
    expect(await introspect(one.tokens.access_token)).toEqual({ active: false });
    const delivered = await feed.nth(1, Math.max(1, 1_000 - (Date.now() - revokedAtMs)));
    expect(delivered.data).toEqual({ sub: ada.id, tid: t.tenantId, revoked_at: Math.floor(Date.parse(revoked.body.revoked_at) / 1000) });
    feed.close();

    // Bob is untouched.
    expect((await owner.get(`/users/${bob.id}/sessions`)).body.items).toHaveLength(1);
    expect(await authorizeWith(bobs.browser, webA)).toBe('redirect');
    await expect(client.refreshTokenGrant(webA, bobs.tokens.refresh_token!)).resolves.toMatchObject({ access_token: expect.any(String) });
    expect(await introspect(bobs.tokens.access_token)).toMatchObject({ active: true, sub: bob.id });

    // Audited with the actor and the counts.
    const [event] = (await auditEvents(t, 'sessions.revoked_all')).filter((e) => e.target_id === ada.id);
    expect(event).toMatchObject({ actor_type: 'client', actor_id: t.admin.id, data: { sessions: 2, grants: 2, reason: 'admin' } });

    // Signing in again works (in a later second than the revocation time).
    await new Promise((r) => setTimeout(r, 1_100));
    const again = await signIn(t.issuer, webA, ada, { scope: SCOPE });
    expect((await adminApi(t, again.tokens.access_token).get('/users')).status).toBe(200);
  });

  it('revoking one session leaves the others', async () => {
    const cy = await person('cy.revoke@example.test');
    const first = await signIn(t.issuer, webA, cy, { scope: SCOPE });
    const second = await signIn(t.issuer, webB, cy, { scope: SCOPE });
    const sessions = (await owner.get(`/users/${cy.id}/sessions`)).body.items as { id: string; clients: string[] }[];
    const target = sessions.find((s) => s.clients.includes(webA.clientMetadata().client_id))!;
    const res = await owner.delete(`/users/${cy.id}/sessions/${target.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sessions: 1, grants: 1 });
    await expect(client.refreshTokenGrant(webA, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(webB, second.tokens.refresh_token!)).resolves.toMatchObject({ access_token: expect.any(String) });
    expect(await authorizeWith(first.browser, webA)).toBe('login');
    expect(await authorizeWith(second.browser, webB)).toBe('redirect');
    expect((await owner.delete(`/users/${cy.id}/sessions/${target.id}`)).status).toBe(404);
    const [event] = (await auditEvents(t, 'session.revoked')).filter((e) => e.target_id === cy.id);
    expect(event!.data).toEqual({ session: target.id, clients: [webA.clientMetadata().client_id] });
  });

  it('suspending a user revokes all of their sessions', async () => {
    const di = await person('di.revoke@example.test');
    const { tokens, browser } = await signIn(t.issuer, webA, di, { scope: SCOPE });
    expect((await owner.post(`/users/${di.id}/suspend`)).status).toBe(200);
    expect((await owner.get(`/users/${di.id}/sessions`)).body.items).toEqual([]);
    await expect(client.refreshTokenGrant(webA, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await authorizeWith(browser, webA)).toBe('login');
    const events = (await auditEvents(t)).filter((e) => e.target_id === di.id).map((e) => e.action);
    expect(events).toContain('sessions.revoked_all');
    expect(events).toContain('user.suspended');
  });

  it('another tenant cannot list or revoke the sessions', async () => {
    const other = await startTessera();
    try {
      const ed = await person('ed.revoke@example.test');
      await signIn(t.issuer, webA, ed, { scope: SCOPE });
      const foreign = await ownerApi(other);
      expect((await foreign.get(`/users/${ed.id}/sessions`)).status).toBe(404);
      expect((await foreign.delete(`/users/${ed.id}/sessions`)).status).toBe(404);
      expect((await owner.get(`/users/${ed.id}/sessions`)).body.items).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});
