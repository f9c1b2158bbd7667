import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceToken } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { readSse } from '../support/sse.ts';

let t: TestTessera;
beforeAll(async () => {
  // The shortest token lifetime Tessera allows, so the test waits 30 s, not 300.
  t = await startTessera({ TESSERA_ACCESS_TOKEN_TTL: '30' });
});
afterAll(() => t?.close());

describe('revocation feed and the token that opened it', () => {
  it('ends the stream when the token expires, so a disabled or revoked subscriber cannot listen on', async () => {
    const token = await serviceToken(t, t.admin.id, t.admin.secret);
    const exp = decodeJwt(token).exp! * 1000;
    const res = await fetch(`${t.issuer}/api/v1/revocations/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    let ended: number | undefined;
    const reading = readSse(res.body!, () => undefined).then(() => (ended = Date.now()));
    // Still open a few seconds before the token expires...
    await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now() - 3_000)));
    expect(ended).toBeUndefined();
    // ...and closed by the server right after.
    await Promise.race([reading, new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 3_000))]);
    expect(ended).toBeDefined();
    expect(ended!).toBeGreaterThanOrEqual(exp - 1_000);
    // The same token can no longer open a new stream.
    expect((await fetch(`${t.issuer}/api/v1/revocations/stream`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  }, 60_000);
});
