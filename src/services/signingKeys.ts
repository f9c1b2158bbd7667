import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SigningAlg } from '../config/index.ts';
import type { Database, Executor } from '../db/client.ts';
import { findSigningKey, insertSigningKey, listAllKeys, listPublishedKeys, lockBootstrap, setKeyStatus, type SigningKeyRow } from '../queries/keys.ts';

export interface KeySet {
  /** Private JWKs for oidc-provider: the active key first (it signs), then the others (published only). */
  jwks: { keys: JWK[] };
  activeKid: string;
}

/**
 * Signing-key rotation without downtime:
 *
 *   stage   → the new key is published in JWKS on every process, but doesn't sign;
 *   promote → once it has been published for `propagationSeconds` (resource servers'
 *             JWKS caches have caught up), it signs; the old key turns `retiring`;
 *   retire  → once every token the old key signed has expired (longest signed-token
 *             lifetime plus the same margin), it leaves JWKS.
 *
 * `force` skips the waits, for a compromised key: tokens it signed stop verifying
 * at once, which is then the point.
 */
export interface RotationPolicy {
  alg: SigningAlg;
  propagationSeconds: number;
  /** The longest lifetime of anything Tessera signs (access and ID tokens). */
  maxTokenSeconds: number;
}

/**
 * The algorithms Tessera keeps an active key for: the access-token algorithm
 * (TESSERA_SIGNING_ALG) and RS256, which signs ID tokens unless a client
 * registered another (OIDC Core §15.1 makes it the one every RP may assume).
 */
export const ID_TOKEN_DEFAULT_ALG: SigningAlg = 'RS256';
export const signingAlgs = (alg: SigningAlg): SigningAlg[] => [...new Set<SigningAlg>([alg, ID_TOKEN_DEFAULT_ALG])];

export class KeyRotationError extends Error {
  override name = 'KeyRotationError';
}

async function newKey(alg: SigningAlg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const kid = randomUUID();
  const meta = { kid, alg, use: 'sig' };
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}

/**
 * Orders published rows for oidc-provider: the active key of `alg` first (it
 * signs), then retiring, then staged. `fallbackSigner` signs instead when no
 * key of `alg` is active but it is still published (another process switched
 * TESSERA_SIGNING_ALG and this one hasn't restarted yet).
 */
export function toKeySet(rows: SigningKeyRow[], alg: SigningAlg, fallbackSigner?: string): KeySet | undefined {
  const active = rows.filter((r) => r.status === 'active' && r.alg === alg).at(-1) ?? rows.find((r) => r.kid === fallbackSigner);
  if (!active) return undefined;
  // oidc-provider signs with the first key of the wanted algorithm, so every active key (the ID-token
  // RS256 one too) comes before the retiring and staged keys of its algorithm.
  const rank = { active: 0, retiring: 1, staged: 2, retired: 3 } as const;
  const others = rows.filter((r) => r.kid !== active.kid).sort((a, b) => rank[a.status] - rank[b.status]);
  return { jwks: { keys: [active, ...others].map((r) => r.privateJwk as JWK) }, activeKid: active.kid };
}

/** True when every algorithm Tessera signs with has an active key. */
const complete = (rows: SigningKeyRow[], alg: SigningAlg) => signingAlgs(alg).every((a) => rows.some((r) => r.status === 'active' && r.alg === a));

/**
 * Ensures an active key of `alg` exists and returns the published key set. On
 * a first start it creates one. After TESSERA_SIGNING_ALG changed, it promotes
 * the oldest staged key of the new algorithm (published since it was staged)
 * rather than signing with a key nobody has seen, and the other algorithm's
 * active key turns `retiring`.
 */
export async function loadOrCreateKeys(db: Database, alg: SigningAlg): Promise<KeySet> {
  const published = await listPublishedKeys(db);
  if (complete(published, alg)) return toKeySet(published, alg)!;
  await db.transaction(async (tx) => {
    await lockBootstrap(tx);
    const rows = await listPublishedKeys(tx);
    if (complete(rows, alg)) return;
    const needed = signingAlgs(alg);
    if (!rows.some((r) => r.status === 'active' && r.alg === alg)) {
      const staged = rows.find((r) => r.status === 'staged' && r.alg === alg);
      if (staged) {
        // The access-token algorithm changed: its staged key (published since it was staged) signs, and the
        // active keys of algorithms no longer needed turn retiring (published until their tokens expire).
        for (const old of rows.filter((r) => r.status === 'active' && !needed.includes(r.alg as SigningAlg))) await setKeyStatus(tx, old.kid, 'retiring');
        await setKeyStatus(tx, staged.kid, 'active');
      }
    }
    const now = await listPublishedKeys(tx);
    for (const a of needed) {
      if (now.some((r) => r.status === 'active' && r.alg === a)) continue;
      // A first start, or an installation from before ID tokens had their own key: a new key, active at once.
      const key = await newKey(a);
      await insertSigningKey(tx, { kid: key.kid, alg: a, status: 'active', privateJwk: key.privateJwk, publicJwk: key.publicJwk, activatedAt: new Date() });
    }
  });
  return toKeySet(await listPublishedKeys(db), alg)!;
}

/** Reads the published key set as it is now (after another process may have rotated); see toKeySet for `fallbackSigner`. */
export async function loadKeys(db: Executor, alg: SigningAlg, fallbackSigner?: string): Promise<KeySet | undefined> {
  return toKeySet(await listPublishedKeys(db), alg, fallbackSigner);
}

/** Stages a new key: it is published in JWKS but does not sign until promoted. */
export async function stageKey(db: Executor, alg: SigningAlg): Promise<string> {
  const key = await newKey(alg);
  await insertSigningKey(db, { kid: key.kid, alg, status: 'staged', privateJwk: key.privateJwk, publicJwk: key.publicJwk });
  return key.kid;
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** When a staged key may be promoted. */
export function promotableAt(key: SigningKeyRow, policy: RotationPolicy): Date {
  return new Date(key.createdAt.getTime() + policy.propagationSeconds * 1000);
}

/** When a retiring key may be retired: its last token has expired, plus the propagation margin. */
export function retirableAt(key: SigningKeyRow, policy: RotationPolicy): Date | undefined {
  if (key.status === 'staged') return key.createdAt;
  if (key.status !== 'retiring' || !key.deactivatedAt) return undefined;
  return new Date(key.deactivatedAt.getTime() + (policy.maxTokenSeconds + policy.propagationSeconds) * 1000);
}

/** Makes a staged key the signing key; the active key of the same algorithm becomes `retiring`. */
export async function promoteKey(db: Database, kid: string, policy: RotationPolicy, opts: { force?: boolean; now?: Date } = {}): Promise<{ kid: string; previous: string[] }> {
  const now = opts.now ?? new Date();
  return db.transaction(async (tx) => {
    await lockBootstrap(tx);
    const key = await findSigningKey(tx, kid);
    if (!key) throw new KeyRotationError(`no signing key "${kid}"`);
    if (key.status !== 'staged') throw new KeyRotationError(`key "${kid}" is ${key.status}; only a staged key can be promoted`);
    if (!signingAlgs(policy.alg).includes(key.alg as SigningAlg)) {
      throw new KeyRotationError(
        `key "${kid}" is ${key.alg}, but Tessera signs with ${signingAlgs(policy.alg).join(' and ')} (TESSERA_SIGNING_ALG and ID tokens); change TESSERA_SIGNING_ALG on every process first`,
      );
    }
    const ready = promotableAt(key, policy);
    if (!opts.force && ready > now) {
      throw new KeyRotationError(
        `key "${kid}" has been published for less than ${policy.propagationSeconds} s (TESSERA_KEY_PROPAGATION_SECONDS); ` +
          `resource servers may not have it yet. Promote in ${seconds(ready.getTime() - now.getTime())} s, or pass --force`,
      );
    }
    const previous = (await listPublishedKeys(tx)).filter((r) => r.status === 'active' && r.alg === key.alg).map((r) => r.kid);
    for (const old of previous) await setKeyStatus(tx, old, 'retiring');
    await setKeyStatus(tx, kid, 'active');
    return { kid, previous };
  });
}

/** Removes a key from JWKS. Only staged keys (never signed) and retiring keys whose tokens have expired qualify, unless forced. */
export async function retireKey(db: Database, kid: string, policy: RotationPolicy, opts: { force?: boolean; now?: Date } = {}): Promise<void> {
  const now = opts.now ?? new Date();
  await db.transaction(async (tx) => {
    await lockBootstrap(tx);
    const key = await findSigningKey(tx, kid);
    if (!key) throw new KeyRotationError(`no signing key "${kid}"`);
    if (key.status === 'retired') return;
    if (key.status === 'active') throw new KeyRotationError(`key "${kid}" is the active signing key; stage and promote its successor first`);
    const after = retirableAt(key, policy)!;
    if (!opts.force && after > now) {
      throw new KeyRotationError(
        `tokens signed by key "${kid}" may still be valid for ${seconds(after.getTime() - now.getTime())} s ` +
          `(longest token lifetime plus TESSERA_KEY_PROPAGATION_SECONDS); retire it after ${after.toISOString()}, or pass --force for a compromised key`,
      );
    }
    await setKeyStatus(tx, kid, 'retired');
  });
}

/** Every key with its state and the earliest time of its next step, for the CLI. */
export async function describeKeys(db: Executor, policy: RotationPolicy) {
  return (await listAllKeys(db)).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    status: k.status,
    createdAt: k.createdAt.toISOString(),
    activatedAt: k.activatedAt?.toISOString() ?? null,
    deactivatedAt: k.deactivatedAt?.toISOString() ?? null,
    retiredAt: k.retiredAt?.toISOString() ?? null,
    ...(k.status === 'staged' ? { promotableAt: promotableAt(k, policy).toISOString() } : {}),
    ...(k.status === 'retiring' ? { retirableAt: retirableAt(k, policy)!.toISOString() } : {}),
  }));
}

/** The rotation policy implied by the configuration. */
export function rotationPolicy(config: {
  TESSERA_SIGNING_ALG: SigningAlg;
  TESSERA_KEY_PROPAGATION_SECONDS: number;
  TESSERA_ACCESS_TOKEN_TTL: number;
  TESSERA_ID_TOKEN_TTL: number;
}): RotationPolicy {
  return {
    alg: config.TESSERA_SIGNING_ALG,
    propagationSeconds: config.TESSERA_KEY_PROPAGATION_SECONDS,
    maxTokenSeconds: Math.max(config.TESSERA_ACCESS_TOKEN_TTL, config.TESSERA_ID_TOKEN_TTL),
  };
}
