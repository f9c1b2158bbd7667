import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promoteKey, rotationPolicy, stageKey } from '../../src/services/signingKeys.ts';
import { ownerAccess } from '../support/access.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/** SPEC §6 "ID tokens": RS256 unless the client registered another; discovery lists what Tessera signs with. */
let t: TestTessera;
let owner: AdminApi;
const user = { email: 'rp-user@example.test', password: 'relying party password' };

beforeAll(async () => {
  t = await startTessera();
  owner = await ownerApi(t);
  await t.server.core.services.users.create(ownerAccess(t.tenantId), user);
});
afterAll(() => t?.close());

async function idTokenVia(body: Record<string, unknown>) {
  const app = await owner.post('/applications', { name: 'RP', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI], ...body });
  expect(app.status, JSON.stringify(app.body)).toBe(201);
  const { tokens } = await signIn(t.issuer, await discover(t.issuer, app.body.id, app.body.client_secret), user, { scope: 'openid users:view' });
  return { header: decodeProtectedHeader(tokens.id_token!), access: decodeProtectedHeader(tokens.access_token) };
}

describe('ID tokens', () => {
  it('discovery lists RS256 and the access-token algorithm, and JWKS publishes a key for each', async () => {
    const discovery = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as { id_token_signing_alg_values_supported: string[] };
    expect([...discovery.id_token_signing_alg_values_supported].sort()).toEqual(['ES256', 'RS256']);
    const jwks = (await (await fetch(`${t.issuer}/jwks`)).json()) as { keys: { alg: string; d?: string }[] };
    expect(new Set(jwks.keys.map((k) => k.alg))).toEqual(new Set(['ES256', 'RS256']));
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('are RS256 for a client that registered nothing, while access tokens keep TESSERA_SIGNING_ALG', async () => {
    const { header, access } = await idTokenVia({});
    expect(header.alg).toBe('RS256');
    expect(access.alg).toBe('ES256');
  });

  it('follow the algorithm a client registered, and only one Tessera can sign with is accepted', async () => {
    expect((await idTokenVia({ id_token_signed_response_alg: 'ES256' })).header.alg).toBe('ES256');
    const refused = await owner.post('/applications', { name: 'PS', type: 'web', redirect_uris: [REDIRECT_URI], id_token_signed_response_alg: 'PS256' });
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 422, code: 'unsupported_id_token_alg' });
  });

  it('rotate like the access-token keys: a staged RS256 key signs ID tokens once promoted', async () => {
    const { db, config } = t.server.core;
    const kid = await stageKey(db, 'RS256');
    await promoteKey(db, kid, rotationPolicy(config), { force: true });
    await t.server.keyRing.refresh();
    const { header, access } = await idTokenVia({});
    expect(header).toMatchObject({ alg: 'RS256', kid });
    expect(access.alg).toBe('ES256');
  });
});
