import { AsyncLocalStorage } from 'node:async_hooks';
import Provider from 'oidc-provider';
import als from 'oidc-provider/lib/helpers/als.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

const adminToken = async () => {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return ((await res.json()) as { access_token: string }).access_token;
};

describe('one request store for the process (issue 14)', () => {
  it("is oidc-provider's own: the store Tessera runs its routes in is the one Provider.ctx reads", () => {
    const holder = { marker: 'tessera route' };
    expect(als.run(holder, () => Provider.ctx)).toBe(holder);
    expect(Provider.ctx).toBeUndefined();
  });

  it("is the only store requests enter: an admin request and a token request run in oidc-provider's store and no other", async () => {
    const entered = new Set<AsyncLocalStorage<unknown>>();
    const run = AsyncLocalStorage.prototype.run;
    AsyncLocalStorage.prototype.run = function (this: AsyncLocalStorage<unknown>, ...args: Parameters<typeof run>) {
      entered.add(this);
      return run.apply(this, args);
    } as typeof run;
    try {
      const token = await adminToken();
      const res = await fetch(`${t.issuer}/api/v1/roles`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      AsyncLocalStorage.prototype.run = run;
    }
    expect([...entered]).toEqual([als]);
  });

  it("carries an admin request's id from its route down to the audit event its change writes", async () => {
    const token = await adminToken();
    const requestId = `rc-${Date.now()}`;
    const res = await fetch(`${t.issuer}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ email: `rc-${Date.now()}@example.test`, display_name: 'Request context' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    const user = (await res.json()) as { id: string };
    const events = await fetch(`${t.issuer}/api/v1/audit-events?target_id=${user.id}`, { headers: { authorization: `Bearer ${token}` } });
    const items = ((await events.json()) as { items: Array<{ action: string; request_id: string | null }> }).items;
    expect(items.find((e) => e.action === 'user.created')?.request_id).toBe(requestId);
  });

  it('keeps concurrent requests apart: each change is audited with its own request id', async () => {
    const token = await adminToken();
    const ids = Array.from({ length: 12 }, (_, i) => `rc-par-${Date.now()}-${i}`);
    const created = await Promise.all(
      ids.map(async (requestId, i) => {
        const res = await fetch(`${t.issuer}/api/v1/users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': requestId },
          body: JSON.stringify({ email: `rc-par-${Date.now()}-${i}@example.test` }),
        });
        expect(res.status).toBe(201);
        return { requestId, id: ((await res.json()) as { id: string }).id };
      }),
    );
    for (const { requestId, id } of created) {
      const events = await fetch(`${t.issuer}/api/v1/audit-events?target_id=${id}`, { headers: { authorization: `Bearer ${token}` } });
      const items = ((await events.json()) as { items: Array<{ action: string; request_id: string | null }> }).items;
      expect(items.find((e) => e.action === 'user.created')?.request_id).toBe(requestId);
    }
  });
});
