import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/** SPEC §7 "Relying parties hear it too" and CHECKLIST 40: OIDC Back-Channel Logout 1.0 on every revocation. */
let t: TestTessera;
let owner: AdminApi;
let receiver: Server;
let receiverUrl: string;
const received: string[] = [];

beforeAll(async () => {
  // The relying party listens on loopback, which outbound calls refuse unless this setting allows it.
  t = await startTessera({ TESSERA_ALLOW_PRIVATE_OUTBOUND: 'true' });
  owner = await ownerApi(t);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200).end();
    });
  }).listen(0, '127.0.0.1');
  await new Promise((r) => receiver.once('listening', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/backchannel`;
});
afterAll(async () => {
  receiver?.close();
  await t?.close();
});

async function waitForToken(sid: string): Promise<string> {
  for (let waited = 0; waited < 15_000; waited += 50) {
    const token = received.find((tok) => tok && decodeJwt(tok).sid === sid);
    if (token) return token;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no logout token for sid ${sid}; received ${received.length}`);
}

describe('back-channel logout', () => {
  it('revoke-all and deleting a user send each client a signed logout token naming the session, audited and counted', async () => {
    const app = await owner.post('/applications', { name: 'RP with back-channel', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI], backchannel_logout_uri: receiverUrl });
    expect(app.status, JSON.stringify(app.body)).toBe(201);
    expect(app.body.backchannel_logout_uri).toBe(receiverUrl);
    const rp = await discover(t.issuer, app.body.id, app.body.client_secret);
    const discovery = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });

    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    for (const trigger of ['revoke-all', 'delete'] as const) {
      const person = { email: `bcl-${trigger}@example.test`, password: `back-channel ${trigger} password` };
      const id = (await t.server.core.services.users.create(ownerAccess(t.tenantId), person)).id;
      const { tokens } = await signIn(t.issuer, rp, person, { scope: 'openid' });
      const sid = String(decodeJwt(tokens.id_token!).sid);
      const res = trigger === 'delete' ? await owner.delete(`/users/${id}`) : await owner.delete(`/users/${id}/sessions`);
      expect(res.status).toBeLessThan(300);
      const { payload, protectedHeader } = await jwtVerify(await waitForToken(sid), jwks, { issuer: t.issuer, audience: app.body.id });
      expect(protectedHeader.alg).toBe('RS256');
      expect(payload).toMatchObject({ sub: id, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
      expect(payload.nonce).toBeUndefined();
    }
    // The outcome is in the audit log and the metrics.
    for (let waited = 0; waited < 5_000; waited += 50) {
      if ((await owner.get('/audit-events?action=session.backchannel_logout')).body.items.length >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const events = (await owner.get('/audit-events?action=session.backchannel_logout')).body.items;
    expect(events.map((e: { data: { result: string; client: string } }) => [e.data.client, e.data.result])).toEqual([
      [app.body.id, 'delivered'],
      [app.body.id, 'delivered'],
    ]);
    const metrics = await (await fetch(`${t.issuer}/metrics`)).text();
    expect(metrics).toMatch(/tessera_backchannel_logout_total\{result="delivered"\} 2/);
  });

  it('refuses a back-channel URI that is not https (loopback http aside) or set on a service client', async () => {
    const plain = await owner.post('/applications', { name: 'x', type: 'web', redirect_uris: [REDIRECT_URI], backchannel_logout_uri: 'http://rp.example/logout' });
    expect({ status: plain.status, code: plain.body.code }).toEqual({ status: 422, code: 'invalid_backchannel_logout_uri' });
    const svc = await owner.post('/applications', { name: 'y', type: 'service', backchannel_logout_uri: 'https://rp.example/logout' });
    expect({ status: svc.status, code: svc.body.code }).toEqual({ status: 422, code: 'invalid_backchannel_logout_uri' });
  });
});
