import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import { discover, REDIRECT_URI } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let owner: AdminApi;
let viewer: AdminApi;
let web: client.Configuration;

/** The sign-in page of a fresh authorization request, as a person's browser gets it. */
async function signInPage(): Promise<string> {
  const url = client.buildAuthorizationUrl(web, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res } = await new Browser().follow(url.toString(), t.issuer);
  return res.text();
}

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  const { services } = t.server.core;
  const v = await services.clients.create(ownerAccess(t.tenantId), { name: 'viewer bot', type: 'service' });
  await services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: v.client.id });
  viewer = adminApi(t, await serviceToken(t, v.client.id, v.secret!));
  const c = await services.clients.create(ownerAccess(t.tenantId), { name: 'Branded app', type: 'web', redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, c.client.id, c.secret!);
});
afterAll(() => t?.close());

describe('branding', () => {
  it('reads the tenant’s branding', async () => {
    const res = await viewer.get('/branding');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ display_name: t.tenantSlug, logo_url: null, accent_color: null });
  });

  it('updates branding, audits before/after, and the sign-in page shows it at once', async () => {
    const before = await signInPage();
    expect(before).toContain(t.tenantSlug);
    const res = await owner.patch('/branding', { display_name: 'Acme <Corp>', accent_color: '#ff8800', logo_url: 'https://cdn.acme.example/logo.png' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ display_name: 'Acme <Corp>', logo_url: 'https://cdn.acme.example/logo.png', accent_color: '#ff8800' });
    const html = await signInPage();
    expect(html).toContain('<span>Acme &#60;Corp&#62;</span>');
    expect(html).not.toContain('Acme <Corp>');
    expect(html).toContain('--accent:#ff8800');
    expect(html).toContain('src="https://cdn.acme.example/logo.png"');
    const events = await owner.get('/audit-events?action=branding.updated&limit=1');
    expect(events.body.items[0]).toMatchObject({
      actor: { type: 'client', id: t.admin.id },
      target: { type: 'tenant', id: t.tenantId },
      data: {
        before: { display_name: t.tenantSlug, logo_url: null, accent_color: null },
        after: { display_name: 'Acme <Corp>', logo_url: 'https://cdn.acme.example/logo.png', accent_color: '#ff8800' },
      },
    });
  });

  it('changes only the fields sent, and null clears the logo and colour', async () => {
    await owner.patch('/branding', { accent_color: '#abc', logo_url: 'https://cdn.acme.example/l.svg' });
    const res = await owner.patch('/branding', { logo_url: null, accent_color: null });
    expect(res.body).toMatchObject({ logo_url: null, accent_color: null });
    expect(res.body.display_name).toBe((await owner.get('/branding')).body.display_name);
    const html = await signInPage();
    expect(html).not.toContain('#abc');
    expect(html).not.toContain('l.svg');
  });

  it('refuses values the sign-in page could not render safely', async () => {
    const bad = [
      { display_name: '' },
      { display_name: 'x'.repeat(101) },
      { logo_url: 'http://cdn.acme.example/logo.png' },
      { logo_url: 'javascript:alert(1)' },
      { accent_color: 'red' },
      { accent_color: '#ff88' },
      { accent_color: '#12345g' },
      { accent_color: '#fff;background:url(x)' },
      { slug: 'other' },
      {},
    ];
    for (const body of bad) {
      const res = await owner.patch('/branding', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });

  it('requires branding:view and branding:edit', async () => {
    const res = await viewer.patch('/branding', { display_name: 'Nope' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    const { services } = t.server.core;
    const s = await services.clients.create(ownerAccess(t.tenantId), { name: 'no roles', type: 'service' });
    await services.roles.create(ownerAccess(t.tenantId), { name: `apps-${randomBytes(3).toString('hex')}`, capabilities: ['applications:view'] }).then((r) =>
      services.roles.assign(ownerAccess(t.tenantId), r.slug, { type: 'client', id: s.client.id }),
    );
    const apps = adminApi(t, await serviceToken(t, s.client.id, s.secret!));
    expect((await apps.get('/branding')).status).toBe(403);
  });

  it('changes only the caller’s tenant', async () => {
    const other = (await bootstrapTenant(t.server.core, { tenant: `o-${randomBytes(4).toString('hex')}` }))!;
    await owner.patch('/branding', { display_name: 'Only mine' });
    expect((await t.server.core.services.tenants.branding(ownerAccess(other.tenant.id))).display_name).toBe(other.tenant.slug);
  });
});
