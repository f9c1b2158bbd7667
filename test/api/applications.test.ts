import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi, type ApiResponse } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;
let viewer: AdminApi;
let otherTenantClient: string;

/** A client-credentials request, reporting the outcome instead of throwing. */
async function token(id: string, secret: string): Promise<{ status: number; body: { access_token?: string; error?: string } }> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string } };
}

/** The newest audit event for a target, read through the API. */
async function lastEvent(targetId: string, action: string) {
  const res = await owner.get(`/audit-events?target_id=${encodeURIComponent(targetId)}&action=${action}&limit=1`);
  expect(res.status).toBe(200);
  return res.body.items[0];
}

const service = async (name = `svc-${randomBytes(3).toString('hex')}`) => {
  const res = await owner.post('/applications', { name, type: 'service' });
  expect(res.status).toBe(201);
  return res.body as { id: string; client_secret: string };
};

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const { services } = t.server.core;
  const v = await services.clients.create(ownerAccess(t.tenantId), { name: 'viewer bot', type: 'service' });
  await services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: v.client.id });
  viewer = adminApi(t, await serviceToken(t, v.client.id, v.secret!));
  const other = (await bootstrapTenant(t.server.core, { tenant: `o-${randomBytes(4).toString('hex')}` }))!;
  otherTenantClient = (await services.clients.create(ownerAccess(other.tenant.id), { name: 'elsewhere', type: 'service' })).client.id;
});
afterAll(() => t?.close());

describe('applications', () => {
  it('creates a web app with its secret shown once, and never shows the secret again', async () => {
    const res = await owner.post('/applications', { name: 'Shop', type: 'web', redirect_uris: ['https://shop.example/cb'], allowed_scopes: ['users:view'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'Shop', type: 'web', first_party: false, redirect_uris: ['https://shop.example/cb'], post_logout_redirect_uris: [], allowed_scopes: ['users:view'], disabled: false });
    expect(res.body.id).toMatch(/^[A-Za-z0-9._~-]{3,128}$/);
    const secret = res.body.client_secret as string;
    expect(secret.length).toBeGreaterThan(20);
    const got = await owner.get(`/applications/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(Object.keys(got.body).sort()).toEqual(['allowed_scopes', 'backchannel_logout_uri', 'created_at', 'disabled', 'first_party', 'id', 'id_token_signed_response_alg', 'name', 'post_logout_redirect_uris', 'redirect_uris', 'type', 'updated_at']);
    const event = await lastEvent(res.body.id, 'application.created');
    expect(event.actor).toEqual({ type: 'client', id: t.admin.id });
    expect(JSON.stringify(event)).not.toContain(secret);
  });

  it('gives public clients no secret', async () => {
    const res = await owner.post('/applications', { name: 'SPA', type: 'spa', redirect_uris: ['http://localhost:5173/cb'] });
    expect(res.status).toBe(201);
    expect(res.body.client_secret).toBeNull();
  });

  it('validates redirect URIs by type and allowed scopes against the catalogue', async () => {
    const bad = async (body: object, code: string, status = 422) => {
      const res = await owner.post('/applications', { name: 'x', ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.code).toBe(code);
    };
    await bad({ type: 'web', redirect_uris: ['http://shop.example/cb'] }, 'invalid_redirect_uri');
    await bad({ type: 'web', redirect_uris: ['https://shop.example/cb#frag'] }, 'invalid_redirect_uri');
    await bad({ type: 'web', redirect_uris: ['/relative'] }, 'invalid_redirect_uri');
    await bad({ type: 'web', redirect_uris: ['com.example.app:/cb'] }, 'invalid_redirect_uri');
    await bad({ type: 'native', redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri');
    await bad({ type: 'web', redirect_uris: [] }, 'invalid_redirect_uri');
    await bad({ type: 'service', redirect_uris: ['https://x.example/cb'] }, 'invalid_redirect_uri');
    await bad({ type: 'web', redirect_uris: ['https://x.example/cb'], post_logout_redirect_uris: ['http://x.example/'] }, 'invalid_redirect_uri');
    await bad({ type: 'service', allowed_scopes: ['users:view', 'nope:never'] }, 'unknown_capability');
    await bad({ type: 'robot' }, 'validation_failed', 400);
    const native = await owner.post('/applications', { name: 'Phone', type: 'native', redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1:8123/cb'] });
    expect(native.status).toBe(201);
  });

  it('lists with cursor pagination and without secrets', async () => {
    for (let i = 0; i < 3; i++) await service(`page-${i}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: ApiResponse = await owner.get(`/applications?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const item of res.body.items) {
        expect(item).not.toHaveProperty('client_secret');
        expect(item).not.toHaveProperty('secret_hash');
        expect(JSON.stringify(item)).not.toMatch(/sha256:/);
      }
      seen.push(...res.body.items.map((i: { id: string }) => i.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const all = await t.server.core.services.clients.list(ownerAccess(t.tenantId), { limit: 200 });
    expect(seen.sort()).toEqual(all.rows.map((r) => r.id).sort());
    expect((await owner.get('/applications?cursor=garbage')).body.code).toBe('invalid_cursor');
    expect((await owner.get('/applications?sort=name')).status).toBe(400);
  });

  it('updates settings but not the type, and audits before/after', async () => {
    const app = (await owner.post('/applications', { name: 'Old', type: 'web', redirect_uris: ['https://a.example/cb'] })).body;
    const res = await owner.patch(`/applications/${app.id}`, { name: 'New', redirect_uris: ['https://b.example/cb'], first_party: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'New', redirect_uris: ['https://b.example/cb'], first_party: true, type: 'web' });
    expect((await owner.patch(`/applications/${app.id}`, { type: 'spa' })).status).toBe(400);
    expect((await owner.patch(`/applications/${app.id}`, {})).status).toBe(400);
    expect((await owner.patch(`/applications/${app.id}`, { redirect_uris: ['http://b.example/cb'] })).body.code).toBe('invalid_redirect_uri');
    expect((await owner.patch(`/applications/${app.id}`, { allowed_scopes: ['bogus:x'] })).body.code).toBe('unknown_capability');
    const event = await lastEvent(app.id, 'application.updated');
    expect(event.actor).toEqual({ type: 'client', id: t.admin.id });
    expect(event.data.before).toMatchObject({ name: 'Old', redirect_uris: ['https://a.example/cb'], first_party: false });
    expect(event.data.after).toMatchObject({ name: 'New', redirect_uris: ['https://b.example/cb'], first_party: true });
  });

  it('rotates a secret: the old one fails at /token at once, the new one works', async () => {
    const app = await service();
    expect((await token(app.id, app.client_secret)).status).toBe(200);
    const res = await owner.post(`/applications/${app.id}/rotate-secret`);
    expect(res.status).toBe(200);
    const fresh = res.body.client_secret as string;
    expect(fresh).not.toBe(app.client_secret);
    const old = await token(app.id, app.client_secret);
    expect(old.status).toBe(401);
    expect(old.body.error).toBe('invalid_client');
    expect((await token(app.id, fresh)).status).toBe(200);
    const event = await lastEvent(app.id, 'application.secret_rotated');
    expect(event.actor).toEqual({ type: 'client', id: t.admin.id });
    expect(JSON.stringify(event)).not.toContain(fresh);
    const spa = (await owner.post('/applications', { name: 'S', type: 'spa', redirect_uris: ['https://s.example/cb'] })).body;
    expect((await owner.post(`/applications/${spa.id}/rotate-secret`)).body.code).toBe('no_secret');
  });

  it('disables and enables: a disabled client gets invalid_client at /token at once', async () => {
    const app = await service();
    expect((await token(app.id, app.client_secret)).status).toBe(200);
    const off = await owner.post(`/applications/${app.id}/disable`);
    expect(off.status).toBe(200);
    expect(off.body.disabled).toBe(true);
    const refused = await token(app.id, app.client_secret);
    expect(refused.body.error).toBe('invalid_client');
    expect((await lastEvent(app.id, 'application.disabled')).actor).toEqual({ type: 'client', id: t.admin.id });
    const on = await owner.post(`/applications/${app.id}/enable`);
    expect(on.body.disabled).toBe(false);
    expect((await token(app.id, app.client_secret)).status).toBe(200);
    expect((await lastEvent(app.id, 'application.enabled')).actor).toEqual({ type: 'client', id: t.admin.id });
  });

  it('assigns and removes roles of service applications only', async () => {
    const app = await service();
    const expiry = { expires_at: new Date(Date.now() + 3_600_000).toISOString() };
    const put = await owner.put(`/applications/${app.id}/roles/viewer`, expiry);
    expect(put.status).toBe(200);
    expect(put.body.changed.clients).toEqual([app.id]);
    expect((await owner.put(`/applications/${app.id}/roles/viewer`, expiry)).body.unchanged.clients).toEqual([app.id]);
    const roles = await owner.get(`/applications/${app.id}/roles`);
    expect(roles.body.items).toEqual([expect.objectContaining({ slug: 'viewer', expires_at: expect.any(String) })]);
    const granted = await token(app.id, app.client_secret);
    expect(String((granted.body as { scope?: string }).scope)).toContain('users:view');
    const assigned = await lastEvent(app.id, 'role.assigned');
    expect(assigned).toMatchObject({ actor: { type: 'client', id: t.admin.id }, target: { type: 'client', id: app.id }, data: { role: 'viewer' } });
    const del = await owner.delete(`/applications/${app.id}/roles/viewer`);
    expect(del.status).toBe(200);
    expect(del.body.changed.clients).toEqual([app.id]);
    expect((await owner.get(`/applications/${app.id}/roles`)).body.items).toEqual([]);
    expect((await lastEvent(app.id, 'role.unassigned')).actor).toEqual({ type: 'client', id: t.admin.id });
    expect((await owner.put(`/applications/${app.id}/roles/no-such-role`)).status).toBe(404);
    const web = (await owner.post('/applications', { name: 'W', type: 'web', redirect_uris: ['https://w.example/cb'] })).body;
    const refused = await owner.put(`/applications/${web.id}/roles/viewer`);
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('not_a_service_account');
  });

  it('deletes an application and audits it', async () => {
    const app = await service();
    await owner.put(`/applications/${app.id}/roles/viewer`);
    expect((await owner.delete(`/applications/${app.id}`)).status).toBe(204);
    expect((await owner.get(`/applications/${app.id}`)).status).toBe(404);
    expect((await token(app.id, app.client_secret)).body.error).toBe('invalid_client');
    const event = await lastEvent(app.id, 'application.deleted');
    expect(event).toMatchObject({ actor: { type: 'client', id: t.admin.id }, data: { type: 'service', prior_roles: ['viewer'] } });
    expect((await owner.delete(`/applications/${app.id}`)).status).toBe(404);
  });

  it('answers 404 for another tenant’s application on every route, and 400 for a malformed id', async () => {
    const id = otherTenantClient;
    const calls = [
      owner.get(`/applications/${id}`),
      owner.patch(`/applications/${id}`, { name: 'mine now' }),
      owner.delete(`/applications/${id}`),
      owner.post(`/applications/${id}/rotate-secret`),
      owner.post(`/applications/${id}/disable`),
      owner.post(`/applications/${id}/enable`),
      owner.get(`/applications/${id}/roles`),
      owner.put(`/applications/${id}/roles/viewer`),
      owner.delete(`/applications/${id}/roles/viewer`),
    ];
    for (const res of await Promise.all(calls)) expect(res.status, JSON.stringify(res.body)).toBe(404);
    expect((await owner.get('/applications')).body.items.map((i: { id: string }) => i.id)).not.toContain(id);
    expect((await t.server.core.services.clients.get(ownerAccess(t.tenantId), t.admin.id)).id).toBe(t.admin.id);
    expect((await owner.get('/applications/a%20b')).status).toBe(400);
  });

  it('refuses callers without the capability with 403 insufficient_scope', async () => {
    expect((await viewer.get('/applications')).status).toBe(200);
    const app = await service();
    const denied = [
      await viewer.post('/applications', { name: 'x', type: 'service' }),
      await viewer.patch(`/applications/${app.id}`, { name: 'y' }),
      await viewer.delete(`/applications/${app.id}`),
      await viewer.post(`/applications/${app.id}/rotate-secret`),
      await viewer.post(`/applications/${app.id}/disable`),
      await viewer.post(`/applications/${app.id}/enable`),
      await viewer.put(`/applications/${app.id}/roles/viewer`),
      await viewer.delete(`/applications/${app.id}/roles/viewer`),
    ];
    for (const res of denied) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('insufficient_scope');
    }
    expect((await owner.get(`/applications/${app.id}`)).body.disabled).toBe(false);
  });
});
