import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Redis } from 'ioredis';
import type { SigningAlg } from '../config/index.ts';
import type { Database } from '../db/client.ts';
import type { Logger } from '../log/index.ts';
import { loadKeys, loadOrCreateKeys, type KeySet } from '../services/signingKeys.ts';

/** Private parts of a JWK; the public set strips them. */
const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function publicJwks(keys: JWK[]): JSONWebKeySet {
  return {
    keys: keys.map((k) => {
      const pub: Record<string, unknown> = { ...k };
      for (const part of PRIVATE_PARTS) delete pub[part];
      return pub as JWK;
    }),
  };
}

/**
 * The signing keys this process uses, kept current while it runs. A key change
 * (stage, promote, retire: services/signingKeys.ts) is announced on a Redis
 * channel and every process reloads at once; a poll catches announcements
 * missed while Redis was unreachable.
 */
export interface KeyRing {
  /** The published set, active key first. */
  current(): KeySet;
  publicJwks(): JSONWebKeySet;
  /** A jose key resolver over the current public keys, for verifying Tessera's own tokens. */
  verifyKey: JWTVerifyGetKey;
  /** Called with the new set after it changed. */
  onChange(listener: (keys: KeySet) => void): void;
  /** Reloads from Postgres now; resolves true when the set changed. */
  refresh(): Promise<boolean>;
  close(): Promise<void>;
}

/** The identity of a key set: which keys, in which order (the first one signs). */
const fingerprint = (keys: KeySet) => keys.jwks.keys.map((k) => k.kid).join(',');

export async function createKeyRing(deps: {
  db: Database;
  redis: Redis;
  channel: string;
  alg: SigningAlg;
  logger: Logger;
  pollMs?: number;
}): Promise<KeyRing> {
  const { db, redis, channel, alg, logger } = deps;
  let keys = await loadOrCreateKeys(db, alg);
  let pub = publicJwks(keys.jwks.keys);
  let local = createLocalJWKSet(pub);
  const listeners: Array<(keys: KeySet) => void> = [];
  let closed = false;

  // Reloads never overlap; a request made while one runs is served by a second pass.
  let running: Promise<boolean> | undefined;
  let again = false;
  async function reload(): Promise<boolean> {
    // If another process promoted a key of a different algorithm (TESSERA_SIGNING_ALG is changing), this one keeps
    // signing with its current key, published while it is retiring, until it restarts with the new setting.
    const next = await loadKeys(db, alg, keys.activeKid);
    if (!next) {
      logger.error({ alg, activeKid: keys.activeKid }, 'no usable signing key in the database; keeping the current keys');
      return false;
    }
    if (fingerprint(next) === fingerprint(keys)) return false;
    const before = keys.activeKid;
    keys = next;
    pub = publicJwks(keys.jwks.keys);
    local = createLocalJWKSet(pub);
    logger.info({ activeKid: keys.activeKid, previousActiveKid: before, published: keys.jwks.keys.map((k) => k.kid) }, 'signing keys reloaded');
    for (const l of listeners) l(keys);
    return true;
  }
  function refresh(): Promise<boolean> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await reload()) || changed;
      } while (again && !closed);
      return changed;
    })().finally(() => {
      running = undefined;
    });
    return running;
  }
  const refreshQuietly = () =>
    void refresh().catch((err: unknown) => logger.warn({ err: (err as Error)?.message }, 'signing key reload failed; keeping the current keys'));

  // A subscriber waits out Redis outages and resubscribes on its own.
  const sub = redis.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, commandTimeout: undefined, lazyConnect: true });
  sub.on('error', () => undefined);
  sub.on('message', (ch: string) => {
    if (ch === channel) refreshQuietly();
  });
  // After a reconnect, announcements made meanwhile are lost: reload once. (Not on the first connect: the keys were just loaded.)
  let connected = false;
  sub.on('ready', () => {
    if (connected && !closed) refreshQuietly();
    connected = true;
  });
  await sub.subscribe(channel).catch((err: unknown) => logger.warn({ err: (err as Error)?.message }, 'signing key channel unavailable; polling only'));
  const poll = setInterval(refreshQuietly, deps.pollMs ?? 10_000);
  poll.unref();

  return {
    current: () => keys,
    publicJwks: () => pub,
    verifyKey: (header, token) => local(header, token),
    onChange(listener) {
      listeners.push(listener);
    },
    refresh,
    async close() {
      closed = true;
      clearInterval(poll);
      await running?.catch(() => undefined);
      sub.disconnect();
    },
  };
}

/** Tells every process to reload its signing keys (after a change committed in Postgres). */
export async function announceKeyChange(redis: Redis, channel: string): Promise<void> {
  await redis.publish(channel, 'changed');
}
