import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';

// OWASP's Argon2id baseline (19 MiB, t=2, p=1): strong and fast enough for a login endpoint.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes a password with Argon2id. */
export const hashPassword = (password: string): Promise<string> => argon2.hash(password, ARGON2_OPTIONS);

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a password. With no stored hash it still runs a full Argon2id
 * verification, so an unknown email takes as long as a wrong password.
 */
export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  if (!hash) {
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return argon2.verify(hash, password).catch(() => false);
}

/** A new client secret: 256 random bits, URL-safe. */
export const generateClientSecret = (): string => randomBytes(32).toString('base64url');

/**
 * Client secrets are high-entropy random values, so a single SHA-256 is the
 * right hash (as for API keys): a slow KDF would add nothing but latency to
 * every client-credentials call.
 */
export const hashClientSecret = (secret: string): string => `sha256:${createHash('sha256').update(secret).digest('hex')}`;

/** Constant-time comparison of a presented secret with a stored hash. */
export function verifyClientSecret(stored: string | null | undefined, presented: string): boolean {
  if (!stored?.startsWith('sha256:')) return false;
  const expected = Buffer.from(stored.slice(7), 'hex');
  const actual = createHash('sha256').update(presented).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A readable random password for generated bootstrap credentials. */
export const generatePassword = (): string => randomBytes(18).toString('base64url');
