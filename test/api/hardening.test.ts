/* eslint-disable @typescript-eslint/no-explicit-any -- bodies and rows are whatever the API and database return */
import { randomBytes } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import * as client from 'openid-client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resourceServers } from '../../src/db/schema/index.ts';
import { createTokenVerifier, TokenError } from '../../packages/resource-server/src/index.js';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { ownerAccess } from '../support/access.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi, type ApiResponse } from '../support/api.ts';
import { followFeed } from '../support/feed.ts';
import { discover, openLoginForm, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { REDIS_URL, startTessera, type TestTessera } from '../support/tessera.ts';

const ACCOUNT_LIMIT = 5;
let t: TestTessera;
let owner: AdminApi;
let web: client.Configuration;

const outcome = (res: ApiResponse) => ({ status: res.status, code: res.body?.code, body: res.body });
const refused = (status: number, code: string) => ({ status, code, body: expect.anything() });

beforeAll(async () => {
  t = await startTessera({ TESSERA_LOGIN_MAX_PER_ACCOUNT: String(ACCOUNT_LIMIT), TESSERA_LOGIN_MAX_PER_IP: '100000' });
  owner = await ownerApi(t);
  const app = await owner.post('/applications', { name: 'Hardening app', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
  web = await discover(t.issuer, app.body.id, app.body.client_secret);
}, 60_000);
afterAll(() => t?.close());

const loginForm = () => openLoginForm(t.issuer, web);
async function attempt(email: string, password: string) {
  const { browser, action, fields } = await loginForm();
  return browser.post(action, { ...fields, email, password });
}
const introspect = async (token: string) =>
  (await (
    await fetch(`${t.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    })
  ).json()) as { active: boolean };

describe('pathological group graphs (CHECKLIST 31)', () => {
  it('a 30-layer ladder: explain and the roles view count 2^28 chains instead of walking them, and /healthz answers meanwhile', async () => {
    const layers = 30;
    const ids: string[][] = [];
    for (let l = 0; l < layers; l++) ids.push([(await owner.post('/groups', { name: `Ladder ${l}a` })).body.id, (await owner.post('/groups', { name: `Ladder ${l}b` })).body.id]);
    for (let l = 0; l < layers - 1; l++) for (const parent of ids[l + 1]!) expect((await owner.post(`/groups/${parent}/subgroups`, { groups: ids[l] })).status).toBe(200);
    await owner.put(`/groups/${ids[layers - 1]![0]}/roles/viewer`, {});
    const user = (await owner.post('/users', { email: 'climber@ladder.test' })).body.id;
    await owner.post(`/groups/${ids[0]![0]}/members`, { users: [user] });

    const started = Date.now();
    const [explain, roles, health] = await Promise.all([
      owner.get(`/users/${user}/capabilities?explain=true`),
      owner.get(`/users/${user}/roles`),
      fetch(`${t.issuer}/healthz`).then((r) => r.status),
    ]);
    // The exponential walk took 6 s at 25 layers and doubles per layer; a linear one is milliseconds.
    // The bound is far above the linear time and far below the exponential one, so load can't flip it.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(health).toBe(200);
    expect(explain.status).toBe(200);
    const view = explain.body.capabilities.find((c: { id: string }) => c.id === 'users:view');
    expect(view.path_count).toBe(2 ** (layers - 2));
    expect(view.paths).toEqual([expect.objectContaining({ type: 'group', role: 'viewer', chains: 2 ** (layers - 2) })]);
    expect(view.paths[0].groups).toHaveLength(layers);
    expect(roles.body.via_groups).toEqual([expect.objectContaining({ slug: 'viewer', path_count: 2 ** (layers - 2) })]);
  }, 60_000);
});

describe('sign-in throttle (CHECKLIST 32)', () => {
  it('case and Unicode variants of one email share one window', async () => {
    const email = `alicé-${randomBytes(3).toString('hex')}@example.test`;
    const password = 'the right password';
    await owner.post('/users', { email, password });
    // Upper case, a dotted capital I, the decomposed (NFD) é, a full-width letter.
    const variants = [email.toUpperCase(), email.replace('i', 'İ'), email.normalize('NFD'), email.replace('a', 'ａ')];
    for (let i = 0; i < ACCOUNT_LIMIT; i++) expect((await attempt(variants[i % variants.length]!, 'wrong')).status).toBe(200);
    // The window is full for every spelling of the address, the right password included.
    for (const v of [email, ...variants]) expect((await attempt(v, password)).status).toBe(429);
  });

  it('40 concurrent wrong passwords: at most the limit is evaluated, the rest are 429', async () => {
    const email = `bob-${randomBytes(3).toString('hex')}@example.test`;
    const bob = (await owner.post('/users', { email, password: 'bob’s real password' })).body.id;
    const forms = await Promise.all(Array.from({ length: 40 }, () => loginForm()));
    const statuses = await Promise.all(forms.map((f) => f.browser.post(f.action, { ...f.fields, email, password: 'guess' }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(ACCOUNT_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40 - ACCOUNT_LIMIT);
    const failed = await owner.get(`/audit-events?action=login.failed&target_id=${bob}`);
    expect(failed.body.items).toHaveLength(ACCOUNT_LIMIT);
  });
});

describe('text attacks (CHECKLIST 33)', () => {
  const bad = ['nul\u0000', 'lone\uD800', 'bidi\u202Eevil', 'zero\u200Bwidth', 'bom\uFEFF'];
  it.each(bad)('%j in names, emails, descriptions, filters and cursors is 400 validation_failed', async (s) => {
    expect(outcome(await owner.post('/roles', { name: s, capabilities: ['users:view'] }))).toEqual(refused(400, 'validation_failed'));
    expect(outcome(await owner.post('/roles', { name: 'Fine', description: s, capabilities: ['users:view'] }))).toEqual(refused(400, 'validation_failed'));
    expect(outcome(await owner.post('/users', { email: `${s}@example.test` }))).toEqual(refused(400, 'validation_failed'));
    expect(outcome(await owner.post('/groups', { name: s }))).toEqual(refused(400, 'validation_failed'));
    // A URL or form can't carry a lone surrogate (its bytes decode to U+FFFD, a valid character); JSON can.
    if (!s.includes('\uD800')) expect(outcome(await owner.get(`/users?query=${encodeURIComponent(s)}`))).toEqual(refused(400, 'validation_failed'));
    const cursor = Buffer.from(JSON.stringify([s, '00000000-0000-4000-8000-000000000000'])).toString('base64url');
    for (const list of ['/users', '/groups', '/applications', '/audit-events']) expect(outcome(await owner.get(`${list}?cursor=${cursor}`)), list).toEqual(refused(400, expect.stringMatching(/invalid_cursor|validation_failed/)));
  });

  it('the unauthenticated sign-in form refuses them with 400, never 500', async () => {
    for (const s of bad.filter((b) => !b.includes('\uD800'))) {
      const { browser, action, fields } = await loginForm();
      expect((await browser.post(action, { ...fields, email: `x${s}@example.test`, password: 'whatever' })).status).toBe(400);
    }
  });

  it('impossible dates and tampered cursors are 400', async () => {
    expect((await owner.get('/audit-events?since=2024-02-30')).status).toBe(400);
    expect((await owner.get('/audit-events?since=0000-01-01')).status).toBe(400);
    const user = (await owner.post('/users', { email: 'dated@example.test' })).body.id;
    expect((await owner.put(`/users/${user}/roles/viewer`, { expires_at: '2099-02-30T00:00:00Z' })).status).toBe(400);
    for (const c of ['x', Buffer.from('["2024-02-30T00:00:00.000000Z","00000000-0000-4000-8000-000000000000"]').toString('base64url'), Buffer.from('[1,2]').toString('base64url')]) {
      expect((await owner.get(`/users?cursor=${c}`)).status).toBe(400);
      expect((await owner.get(`/applications?cursor=${c}`)).status).toBe(400);
    }
  });

  it('look-alike role names are 409 role_name_taken; NFC and NFD spellings of an email are one user', async () => {
    for (const name of ['Оwner', 'OWNER', '0wner', 'Ówner', 'Ｏｗｎｅｒ', 'Admin­istrator'.replace('\u00AD', ''), 'Vіewer']) {
      expect(outcome(await owner.post('/roles', { name, capabilities: ['users:view'] })), name).toEqual(refused(409, 'role_name_taken'));
    }
    expect((await owner.post('/users', { email: 'jose\u0301@example.test' })).status).toBe(201);
    expect(outcome(await owner.post('/users', { email: 'jos\u00E9@example.test' }))).toEqual(refused(409, 'email_taken'));
    expect(outcome(await owner.post('/users', { email: 'JOSE\u0301@EXAMPLE.TEST' }))).toEqual(refused(409, 'email_taken'));
  });
});

describe('DPoP downgrade (CHECKLIST 34)', () => {
  it('DPoP is not advertised, and a key-bound (cnf) token presented as Bearer is 401 at the admin API and in the helper', async () => {
    const discovery = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.dpop_signing_alg_values_supported).toBeUndefined();
    // A token exactly like Tessera's own, signed with its active key, but bound to a key (as DPoP would bind it).
    const jwk = t.server.keyRing.current().jwks.keys[0]!;
    const key = await importJWK(jwk, jwk.alg);
    const now = Math.floor(Date.now() / 1000);
    const mint = (extra: Record<string, unknown>) =>
      new SignJWT({ client_id: t.admin.id, scope: 'users:view', tid: t.tenantId, ...extra })
        .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid!, typ: 'at+jwt' })
        .setIssuer(t.issuer)
        .setAudience(`${t.issuer}/api`)
        .setSubject(t.admin.id)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomBytes(8).toString('hex'))
        .sign(key);
    const bound = await mint({ cnf: { jkt: 'b'.repeat(43) } });
    expect(outcome(await adminApi(t, bound).get('/roles'))).toEqual(refused(401, 'invalid_token'));
    const verifier = createTokenVerifier({ issuer: t.issuer, audience: `${t.issuer}/api`, tenants: [t.tenantId] });
    await expect(verifier.verify(bound)).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
    // The same token without `cnf` passes, so it is the binding that is refused.
    const plain = await mint({});
    expect((await verifier.verify(plain)).tenantId).toBe(t.tenantId);
    await verifier.close();
  });
});

describe('verified tokens kept by the admin API (issue 14)', () => {
  it('a token used many times is still refused once it has expired', async () => {
    const token = await serviceToken(t, t.admin.id, t.admin.secret);
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp as number;
    for (let i = 0; i < 3; i++) expect((await adminApi(t, token).get('/roles')).status).toBe(200);
    // The server runs in this process: only its clock moves, to a second past the token's `exp`.
    vi.useFakeTimers({ toFake: ['Date'], now: (exp + 1) * 1000 });
    try {
      const res = await adminApi(t, token).get('/roles');
      expect(outcome(res)).toEqual(refused(401, 'invalid_token'));
      expect(res.body.detail).toBe('the access token has expired');
    } finally {
      vi.useRealTimers();
    }
    expect((await adminApi(t, token).get('/roles')).status).toBe(200);
  });
});

describe('tenant pinning in the resource-server helper (CHECKLIST 35)', () => {
  it('a helper for one tenant refuses another tenant’s token for the same audience', async () => {
    const audience = 'https://shared-audience.example';
    const other = (await bootstrapTenant(t.server.core, { tenant: `other-${randomBytes(3).toString('hex')}` }))!;
    for (const tenantId of [t.tenantId, other.tenant.id]) await t.server.core.db.insert(resourceServers).values({ tenantId, indicator: audience, name: 'Shared', accessTokenFormat: 'jwt' });
    const tokenOf = async (id: string, secret: string) => {
      const cfg = await discover(t.issuer, id, secret);
      return (await client.clientCredentialsGrant(cfg, { resource: audience, scope: 'users:view' })).access_token;
    };
    const verifier = createTokenVerifier({ issuer: t.issuer, audience, tenants: [t.tenantId] });
    expect((await verifier.verify(await tokenOf(t.admin.id, t.admin.secret), { scopes: ['users:view'] })).tenantId).toBe(t.tenantId);
    const foreign = verifier.verify(await tokenOf(other.client.id, other.client.secret), { scopes: ['users:view'] });
    await expect(foreign).rejects.toBeInstanceOf(TokenError);
    await expect(foreign).rejects.toMatchObject({ status: 401, message: expect.stringContaining('another tenant') });
    await verifier.close();
  });
});

describe('account existence through metrics (CHECKLIST 36)', () => {
  it('an unknown email and a wrong password change /metrics identically', async () => {
    const email = `metric-${randomBytes(3).toString('hex')}@example.test`;
    await owner.post('/users', { email, password: 'a real password' });
    const counters = async () => {
      const text = await (await fetch(`${t.issuer}/metrics`)).text();
      return new Map(text.split('\n').filter((l) => l.startsWith('tessera_') && !l.includes('_bucket') && !l.includes('_sum') && !l.includes('_duration')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
    };
    const delta = (a: Map<string, number>, b: Map<string, number>) => [...b].filter(([k, v]) => v !== (a.get(k) ?? 0)).map(([k, v]) => `${k} +${v - (a.get(k) ?? 0)}`).sort();
    const c0 = await counters();
    expect((await attempt(`nobody-${randomBytes(3).toString('hex')}@example.test`, 'whatever')).status).toBe(200);
    const c1 = await counters();
    expect((await attempt(email, 'wrong password')).status).toBe(200);
    const c2 = await counters();
    expect(delta(c1, c2)).toEqual(delta(c0, c1));
    expect(delta(c0, c1)).toContain('tessera_login_failures_total +1');
  });
});

describe('idempotent replay (CHECKLIST 37)', () => {
  it('a replay after the caller lost the capability is 403, and Redis holds no plaintext secret', async () => {
    const role = await owner.post('/roles', { name: 'App maker', capabilities: ['applications:create'] });
    const svc = await t.server.core.services.clients.create(ownerAccess(t.tenantId), { name: 'app maker', type: 'service' });
    await t.server.core.services.roles.assign(ownerAccess(t.tenantId), role.body.slug, { type: 'client', id: svc.client.id });
    const maker = adminApi(t, await serviceToken(t, svc.client.id, svc.secret!));
    const key = `idem-${randomBytes(6).toString('hex')}`;
    const body = { name: 'Once', type: 'service' };
    const first = await maker.post('/applications', body, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const secret = first.body.client_secret as string;
    const again = await maker.post('/applications', body, { 'idempotency-key': key });
    expect({ status: again.status, replayed: again.headers.get('idempotent-replayed'), secret: again.body.client_secret }).toEqual({ status: 201, replayed: 'true', secret });
    // Nothing in Redis under this server's prefix holds the secret in clear.
    const redis = new Redis(REDIS_URL);
    try {
      const prefix = t.server.core.keys.prefix;
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}idem:*`, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) found.push((await redis.get(k)) ?? '');
      } while (cursor !== '0');
      expect(found.length).toBeGreaterThan(0);
      expect(found.join('\n')).not.toContain(secret);
      expect(found.join('\n')).not.toContain(key);
    } finally {
      redis.disconnect();
    }
    // The capability goes: the same token's replay is refused.
    await owner.patch(`/roles/${role.body.slug}`, { capabilities: ['applications:view'] });
    expect(outcome(await maker.post('/applications', body, { 'idempotency-key': key }))).toEqual(refused(403, 'insufficient_scope'));
  });
});

describe('expensive requests in bulk (CHECKLIST 39)', () => {
  it('25 concurrent exports from one tenant: the first 3 are accepted, the rest 429 with Retry-After', async () => {
    const responses = await Promise.all(Array.from({ length: 25 }, () => owner.post('/audit-exports', { format: 'ndjson', filter: {} })));
    expect(responses.filter((r) => r.status === 202)).toHaveLength(3);
    const limited = responses.filter((r) => r.status === 429);
    expect(limited).toHaveLength(22);
    for (const r of limited) {
      expect(r.body.code).toBe('too_many_jobs');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});

describe('every revocation trigger (CHECKLIST 40)', () => {
  it('deleting a user, an admin password reset and disabling a client: introspection, the admin API and the feed refuse existing tokens at once', async () => {
    const feed = await followFeed(t.issuer, await serviceToken(t, t.admin.id, t.admin.secret));
    try {
      const signedIn = async (email: string) => {
        const password = `pw ${randomBytes(6).toString('hex')}`;
        const id = (await owner.post('/users', { email, password })).body.id as string;
        await owner.put(`/users/${id}/roles/viewer`, {});
        const { tokens } = await signIn(t.issuer, web, { email, password }, { scope: 'openid users:view' });
        return { id, token: tokens.access_token };
      };
      const reset = await signedIn(`reset-${randomBytes(3).toString('hex')}@example.test`);
      const deleted = await signedIn(`deleted-${randomBytes(3).toString('hex')}@example.test`);
      const svc = await t.server.core.services.clients.create(ownerAccess(t.tenantId), { name: 'to disable', type: 'service' });
      await t.server.core.services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
      const disabled = { id: svc.client.id, token: await serviceToken(t, svc.client.id, svc.secret!) };
      for (const s of [reset, deleted, disabled]) {
        expect((await adminApi(t, s.token).get('/roles')).status).toBe(200);
        expect((await introspect(s.token)).active).toBe(true);
      }
      // Tokens issued in the same second as the revocation count as issued before it.
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await owner.post(`/users/${reset.id}/password`, { password: 'a brand new password' })).status).toBe(204);
      expect((await owner.delete(`/users/${deleted.id}`)).status).toBe(204);
      expect((await owner.post(`/applications/${disabled.id}/disable`)).status).toBe(200);
      for (const s of [reset, deleted, disabled]) {
        expect(outcome(await adminApi(t, s.token).get('/roles'))).toEqual(refused(401, 'invalid_token'));
        expect((await introspect(s.token)).active).toBe(false);
      }
      const announced = () => [reset.id, deleted.id, disabled.id].every((id) => feed.events.some((e) => e.data.sub === id));
      for (let waited = 0; !announced() && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      expect(announced()).toBe(true);
      const events = await owner.get('/audit-events?action=sessions.revoked_all');
      const reasons = new Map(events.body.items.map((e: any) => [e.target.id, e.data.reason]));
      expect([reasons.get(reset.id), reasons.get(deleted.id), reasons.get(disabled.id)]).toEqual(['password_reset', 'deleted', 'disabled']);
    } finally {
      feed.close();
    }
  });
});

describe('prompt=none across tenants (issue 11)', () => {
  it('a session of one tenant at another tenant’s client answers login_required, not interaction_required', async () => {
    const email = `roamer-${randomBytes(3).toString('hex')}@example.test`;
    const password = 'roaming password 1';
    await owner.post('/users', { email, password });
    const { browser } = await signIn(t.issuer, web, { email, password }, { scope: 'openid' });
    const other = (await bootstrapTenant(t.server.core, { tenant: `elsewhere-${randomBytes(3).toString('hex')}` }))!;
    const app = await t.server.core.services.clients.create(ownerAccess(other.tenant.id), { name: 'Elsewhere', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
    const cfg = await discover(t.issuer, app.client.id, app.secret!);
    const url = client.buildAuthorizationUrl(cfg, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const landed = new URL((await browser.follow(url.toString(), t.issuer)).url);
    expect(landed.origin + landed.pathname).toBe(REDIRECT_URI);
    expect(landed.searchParams.get('error')).toBe('login_required');
  });
});
