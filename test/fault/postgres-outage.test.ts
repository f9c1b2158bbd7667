import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { ownerApi } from '../support/api.ts';
import { startProxy } from '../support/tcpProxy.ts';
import { waitFor } from '../support/redisServer.ts';

let proxy: Awaited<ReturnType<typeof startProxy>>;
let t: TestTessera;

beforeAll(async () => {
  const db = new URL(process.env.TESSERA_TEST_DATABASE_URL!);
  proxy = await startProxy(Number(db.port || 5432), db.hostname);
  db.port = String(proxy.port);
  t = await startTessera({ DATABASE_URL: db.toString() });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await proxy?.close();
});

const cc = () =>
  fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });

describe('Postgres unreachable (CHECKLIST faults 1, issue 4 item 10)', () => {
  it('fails closed with 503 even with warm caches, and recovers without a restart', async () => {
    expect((await cc()).status).toBe(200); // warms the client and entitlement caches
    const api = await ownerApi(t);
    expect((await api.get('/roles')).status).toBe(200);

    await proxy.cut();
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 503, 5_000);
    const during = await cc();
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const admin = await api.get('/roles');
    expect(admin.status).toBe(503);
    expect(admin.body.code).toBe('temporarily_unavailable');
    expect(JSON.stringify(admin.body)).not.toMatch(/ECONN|stack|postgres/i);

    await proxy.restore();
    await waitFor(async () => (await fetch(`${t.issuer}/readyz`)).status === 200, 15_000);
    expect((await cc()).status).toBe(200);
    expect((await api.get('/roles')).status).toBe(200);
  }, 60_000);
});
