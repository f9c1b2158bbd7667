import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { Browser, parseForm } from '../support/browser.ts';
import { discover, REDIRECT_URI } from '../support/oidc.ts';

let t: TestTessera;
let web: client.Configuration;
const user = { email: 'metrics@example.test', password: 'a long metrics password' };

beforeAll(async () => {
  t = await startTessera({ TESSERA_LOGIN_MAX_PER_ACCOUNT: '2', TESSERA_LOGIN_MAX_PER_IP: '1000' });
  const { services } = t.server.core;
  const c = await services.clients.create(ownerAccess(t.tenantId), { name: 'Metrics app', type: 'web', redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, c.client.id, c.secret!);
  await services.users.create(ownerAccess(t.tenantId), user);
});
afterAll(() => t?.close());

/** Scrapes /metrics as Prometheus would. */
async function scrape(): Promise<string> {
  const res = await fetch(`${t.issuer}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample, 0 when the series is absent. Labels must be given in exposition order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const rendered = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const series = rendered ? `${name}{${rendered}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function tokenRequest(body: string) {
  return fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}

async function failLogin(email: string, password: string) {
  const browser = new Browser();
  const url = client.buildAuthorizationUrl(web, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res } = await browser.follow(url.toString(), t.issuer);
  const form = parseForm(await res.text());
  return browser.post(new URL(form.action, t.issuer).toString(), { ...form.fields, email, password });
}

describe('/metrics', () => {
  it('counts issued tokens by grant and outcome and observes token endpoint latency', async () => {
    const before = await scrape();
    const cfg = await discover(t.issuer, t.admin.id, t.admin.secret);
    await client.clientCredentialsGrant(cfg);
    await expect(client.clientCredentialsGrant(cfg, { scope: 'no:such' })).rejects.toMatchObject({ error: 'invalid_scope' });
    const after = await scrape();

    const ok = { grant: 'client_credentials', result: 'success' };
    expect(sample(after, 'tessera_token_requests_total', ok) - sample(before, 'tessera_token_requests_total', ok)).toBe(1);
    const bad = { grant: 'client_credentials', result: 'invalid_scope' };
    expect(sample(after, 'tessera_token_requests_total', bad) - sample(before, 'tessera_token_requests_total', bad)).toBe(1);
    // Both requests, success and failure, are in the latency histogram.
    const count = (text: string) => sample(text, 'tessera_token_request_duration_seconds_count', { grant: 'client_credentials' });
    expect(count(after) - count(before)).toBe(2);
    expect(sample(after, 'tessera_token_request_duration_seconds_sum', { grant: 'client_credentials' })).toBeGreaterThan(0);
    expect(sample(after, 'tessera_token_request_duration_seconds_bucket', { le: '+Inf', grant: 'client_credentials' })).toBe(count(after));
  });

  it('reports a grant_type outside the served grants as "other", so callers cannot create series', async () => {
    const before = await scrape();
    const res = await tokenRequest(`grant_type=${encodeURIComponent('urn:evil:grant-' + Math.random())}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const after = await scrape();
    const other = { grant: 'other', result: 'unsupported_grant_type' };
    expect(sample(after, 'tessera_token_requests_total', other) - sample(before, 'tessera_token_requests_total', other)).toBe(1);
    expect(after).not.toContain('urn:evil');
  });

  it('counts failed sign-ins by reason and throttled attempts by limit', async () => {
    const before = await scrape();
    expect((await failLogin(user.email, 'wrong password one')).status).toBe(200);
    expect((await failLogin('nobody@example.test', 'whatever it is')).status).toBe(200);
    expect((await failLogin(user.email, 'wrong password two')).status).toBe(200);
    // The account limit (2) is reached: the next attempt is refused before the password is checked.
    expect((await failLogin(user.email, user.password)).status).toBe(429);
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('tessera_login_failures_total', {})).toBe(3);
    expect(delta('tessera_rate_limited_total', { limit: 'account' })).toBe(1);
    expect(delta('tessera_rate_limited_total', { limit: 'ip' })).toBe(0);
  });

  it('exposes entitlement cache hits and misses', async () => {
    const { services } = t.server.core;
    const svc = await services.clients.create(ownerAccess(t.tenantId), { name: 'cache probe', type: 'service' });
    await services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
    const cfg = await discover(t.issuer, svc.client.id, svc.secret!);
    const before = await scrape();
    await client.clientCredentialsGrant(cfg);
    await client.clientCredentialsGrant(cfg);
    await client.clientCredentialsGrant(cfg);
    const after = await scrape();
    const delta = (result: string) => sample(after, 'tessera_entitlement_cache_total', { result }) - sample(before, 'tessera_entitlement_cache_total', { result });
    // The first issuance after the role change computes; the next ones are served from the cache.
    expect(delta('miss')).toBe(1);
    expect(delta('hit')).toBe(2);
  });

  it('counts HTTP responses by surface and status class', async () => {
    const before = await scrape();
    expect((await fetch(`${t.issuer}/api/v1/roles`)).status).toBe(401);
    expect((await fetch(`${t.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${t.issuer}/interaction/nope`)).status).toBeGreaterThanOrEqual(400);
    const after = await scrape();
    const delta = (surface: string, code: string) =>
      sample(after, 'tessera_http_responses_total', { surface, code }) - sample(before, 'tessera_http_responses_total', { surface, code });
    expect(delta('api', '4xx')).toBe(1);
    expect(delta('oidc', '2xx')).toBe(1);
    expect(delta('interaction', '4xx') + delta('interaction', '5xx')).toBe(1);
    // The scrape before this one is itself counted.
    expect(delta('ops', '2xx')).toBeGreaterThanOrEqual(1);
  });

  it('reports the Postgres pool, which never opens more than TESSERA_DB_POOL_MAX connections', async () => {
    const small = await startTessera({ TESSERA_DB_POOL_MAX: '2' });
    try {
      const token = await (await import('../support/api.ts')).serviceToken(small, small.admin.id, small.admin.secret);
      const pool = async () => {
        const text = await (await fetch(`${small.issuer}/metrics`)).text();
        return { total: sample(text, 'tessera_db_pool_connections', { state: 'total' }), waiting: sample(text, 'tessera_db_pool_connections', { state: 'waiting' }) };
      };
      let busy = true;
      const seen: Array<{ total: number; waiting: number }> = [];
      const watcher = (async () => {
        while (busy) seen.push(await pool());
      })();
      // Uncached reads: each query needs a connection.
      const load = Array.from({ length: 40 }, () => fetch(`${small.issuer}/api/v1/audit-events?limit=50`, { headers: { authorization: `Bearer ${token}` } }));
      const statuses = (await Promise.all(load)).map((r) => r.status);
      busy = false;
      await watcher;
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(Math.max(...seen.map((s) => s.total))).toBe(2);
      expect(Math.max(...seen.map((s) => s.waiting))).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  });

  it('lists every metric family the Grafana dashboard and alerts rely on, before any traffic', async () => {
    const fresh = await startTessera();
    try {
      const text = await (await fetch(`${fresh.issuer}/metrics`)).text();
      for (const family of [
        'tessera_token_requests_total',
        'tessera_token_request_duration_seconds',
        'tessera_login_failures_total',
        'tessera_rate_limited_total',
        'tessera_jobs',
        'tessera_backing_errors_total',
        'tessera_entitlement_cache_total',
        'tessera_http_responses_total',
        'tessera_db_pool_connections',
        'process_resident_memory_bytes',
      ]) {
        expect(text, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
      }
    } finally {
      await fresh.close();
    }
  });
});
