import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SigningAlg } from '../config/index.ts';
import type { Database, Executor } from '../db/client.ts';
import { insertSigningKey, listPublishedKeys, lockBootstrap, setKeyStatus } from '../queries/keys.ts';

export interface KeySet {
  /** Private JWKs for oidc-provider: the active key first (it signs), then staged ones (published only). */
  jwks: { keys: JWK[] };
  activeKid: string;
}

async function newKey(alg: SigningAlg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const kid = randomUUID();
  const meta = { kid, alg, use: 'sig' };
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}

/** Ensures an active key of `alg` exists (first start) and returns the published key set. */
export async function loadOrCreateKeys(db: Database, alg: SigningAlg): Promise<KeySet> {
  let rows = await listPublishedKeys(db);
  if (!rows.some((r) => r.status === 'active' && r.alg === alg)) {
    await db.transaction(async (tx) => {
      await lockBootstrap(tx);
      const current = await listPublishedKeys(tx);
      if (current.some((r) => r.status === 'active' && r.alg === alg)) return;
      const key = await newKey(alg);
      // A previously active key of another algorithm stays published until rotated out.
      await insertSigningKey(tx, { kid: key.kid, alg, status: 'active', privateJwk: key.privateJwk, publicJwk: key.publicJwk, activatedAt: new Date() });
    });
    rows = await listPublishedKeys(db);
  }
  const active = rows.filter((r) => r.status === 'active' && r.alg === alg).at(-1)!;
  const others = rows.filter((r) => r.kid !== active.kid);
  return { jwks: { keys: [active, ...others].map((r) => r.privateJwk as JWK) }, activeKid: active.kid };
}

/** Stages a new key: it is published in JWKS but does not sign until promoted. */
export async function stageKey(db: Executor, alg: SigningAlg): Promise<string> {
  const key = await newKey(alg);
  await insertSigningKey(db, { kid: key.kid, alg, status: 'staged', privateJwk: key.privateJwk, publicJwk: key.publicJwk });
  return key.kid;
}

export { setKeyStatus };
