import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { discover } from '../support/oidc.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

describe('operations endpoints', () => {
  it('/healthz is live and /readyz checks Postgres and Redis', async () => {
    expect((await fetch(`${t.issuer}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('/metrics counts token requests by grant and result', async () => {
    const cfg = await discover(t.issuer, t.admin.id, t.admin.secret);
    await client.clientCredentialsGrant(cfg);
    await expect(client.clientCredentialsGrant(cfg, { scope: 'no:such' })).rejects.toMatchObject({ error: 'invalid_scope' });
    const text = await (await fetch(`${t.issuer}/metrics`)).text();
    expect(text).toMatch(/tessera_token_requests_total\{grant="client_credentials",result="success"\} 1/);
    expect(text).toMatch(/tessera_token_requests_total\{grant="client_credentials",result="invalid_scope"\} 1/);
  });

  it('a change made through one process is seen by the next token on another (shared Redis version)', async () => {
    // A second server on the same Postgres and Redis prefix, as a second HTTP replica would be.
    const other = await import('../support/tessera.ts').then((m) => m.freePort());
    const { createServer } = await import('../../src/app/index.ts');
    const { loadConfig } = await import('../../src/config/index.ts');
    const cfg2 = loadConfig({ ...Object.fromEntries(Object.entries(t.server.core.config).filter(([, v]) => typeof v === 'string')), PORT: String(other), TESSERA_ISSUER: t.issuer, TESSERA_BOOTSTRAP_TENANT: '' });
    const replica = await createServer(cfg2, { printBootstrap: () => undefined });
    const { url } = await replica.listen(other, '127.0.0.1');
    try {
      const svc = await t.server.core.services.clients.create(ownerAccess(t.tenantId), { name: 'svc', type: 'service' });
      const call = async (base: string) => {
        const res = await fetch(`${base}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${svc.client.id}:${svc.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        return (await res.json()) as { scope?: string };
      };
      expect((await call(url)).scope).toBeUndefined();
      // Warm both caches, then change the role on the first process only.
      await t.server.core.services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
      expect((await call(url)).scope).toContain('users:view');
      await t.server.core.services.roles.unassign(ownerAccess(t.tenantId), 'viewer', { type: 'client', id: svc.client.id });
      expect((await call(url)).scope).toBeUndefined();
      // Disabling the client takes effect at once on the replica too.
      await t.server.core.services.clients.setDisabled(ownerAccess(t.tenantId), svc.client.id, true);
      const disabled = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${svc.client.id}:${svc.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(disabled.status).toBe(401);
    } finally {
      await replica.close();
    }
  });
});
