import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApi } from '../../examples/koa-resource-server.ts';
import { resourceServers } from '../../src/db/schema/index.ts';
import { ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { freePort, startTessera, type TestTessera } from '../support/tessera.ts';

const AUDIENCE = 'https://reports.example.test';

let t: TestTessera;
let owner: AdminApi;
let api: ReturnType<typeof createExampleApi>;
let base: string;

/** Client credentials for this API's audience (RFC 8707 resource). */
async function tokenFor(client: { id: string; secret: string }, scope: string): Promise<string> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: AUDIENCE }).toString(),
  });
  const json = (await res.json()) as { access_token?: string };
  if (!json.access_token) throw new Error(`no token: ${JSON.stringify(json)}`);
  return json.access_token;
}

async function serviceClient(role: string): Promise<{ id: string; secret: string }> {
  const svc = await owner.post('/applications', { name: `svc ${role} ${randomBytes(3).toString('hex')}`, type: 'service' });
  await owner.put(`/applications/${svc.body.id}/roles/${role}`, {});
  return { id: svc.body.id, secret: svc.body.client_secret };
}

const call = (token?: string) => fetch(`${base}/reports`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  await t.server.core.db.insert(resourceServers).values({ tenantId: t.tenantId, indicator: AUDIENCE, name: 'Reports', accessTokenFormat: 'jwt' });
  api = createExampleApi({ issuer: t.issuer, audience: AUDIENCE, tenants: [t.tenantId], scope: 'reports:view', feedClient: t.admin });
  base = await api.listen(await freePort());
  await api.verifier.ready;
});
afterAll(async () => {
  await api?.close();
  await t?.close();
});

describe('examples/koa-resource-server with the resource-server helper', () => {
  it('accepts a service token with the scope (200)', async () => {
    const svc = await serviceClient('viewer');
    const res = await call(await tokenFor(svc, 'reports:view'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ reports: [], sub: svc.id, client_id: svc.id, tenant: t.tenantId });
  });

  it('answers 403 insufficient_scope with an RFC 6750 challenge when the scope is missing', async () => {
    const svc = await serviceClient('viewer');
    const res = await call(await tokenFor(svc, 'users:view'));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope".*scope="reports:view"/);
    expect(((await res.json()) as { error: string }).error).toBe('insufficient_scope');
  });

  it('answers 401 without a token, and invalid_token for garbage, an ID token or a token for another audience', async () => {
    const none = await call();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');

    const app = await owner.post('/applications', { name: 'Web', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const { tokens } = await signIn(t.issuer, await discover(t.issuer, app.body.id, app.body.client_secret), t.owner, { scope: 'openid reports:view', resource: AUDIENCE });
    const adminAudience = await serviceToken(t, t.admin.id, t.admin.secret, 'reports:view');
    for (const token of ['garbage', 'a.b.c', tokens.id_token!, adminAudience]) {
      const res = await call(token);
      expect(res.status, token.slice(0, 20)).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
    // Control: the user's access token for this audience works.
    expect((await call(tokens.access_token)).status).toBe(200);
  });

  it("refuses a user's unexpired token within a second of a revoke-all, through the feed", async () => {
    const email = `rs-${randomBytes(4).toString('hex')}@example.test`;
    const password = 'resource server password';
    const user = await owner.post('/users', { email, password });
    await owner.put(`/users/${user.body.id}/roles/viewer`, {});
    const app = await owner.post('/applications', { name: 'Web 2', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const { tokens } = await signIn(t.issuer, await discover(t.issuer, app.body.id, app.body.client_secret), { email, password }, { scope: 'openid reports:view', resource: AUDIENCE });
    expect((await call(tokens.access_token)).status).toBe(200);

    expect((await owner.delete(`/users/${user.body.id}/sessions`)).status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 1_000) {
      status = (await call(tokens.access_token)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
