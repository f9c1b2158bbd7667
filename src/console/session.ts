import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';

/**
 * What the console's server keeps for a signed-in admin (SPEC §13): the tokens
 * from Tessera's own token endpoint and a CSRF token. The browser holds only
 * an opaque, httpOnly cookie whose SHA-256 names the Redis key, so a Redis
 * dump names no live cookie; the record itself is AES-256-GCM encrypted under
 * a key derived from the server secret, so it reveals no token either.
 */
export interface ConsoleSession {
  tenantId: string;
  userId: string;
  accessToken: string;
  /** Epoch seconds. */
  accessExpiresAt: number;
  refreshToken: string | null;
  idToken: string | null;
  csrf: string;
  /** The admin's name and email and the tenant's display name for the page header, read at sign-in and at each refresh. */
  header: { name: string; email: string; tenant: string };
  /** Epoch seconds; the session ends then whatever its tokens say. */
  endsAt: number;
  /** Users picked in the users list, kept across its pages for a bulk change. */
  selection?: string[];
  /** A message for the next page (after a form's redirect). */
  notice?: { kind: 'ok' | 'error'; text: string };
}

export interface PendingLogin {
  tenantId: string;
  verifier: string;
  /** SHA-256 of the nonce in the browser's login cookie: the callback must come from the browser that started it. */
  binding: string;
  returnTo: string;
}

/** A console session lasts at most this long, however its refresh token could go on. */
export const CONSOLE_SESSION_MAX_SECONDS = 12 * 3600;
const LOGIN_TTL_SECONDS = 600;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');
export const randomToken = () => randomBytes(32).toString('base64url');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createConsoleSessions(deps: { redis: Redis; keys: RedisKeys; secret: string }) {
  const key = Buffer.from(hkdfSync('sha256', deps.secret, 'tessera console', 'session', 32));
  const seal = (value: unknown): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  };
  const open = <T>(sealed: string | null): T | undefined => {
    if (!sealed) return undefined;
    try {
      const raw = Buffer.from(sealed, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
    } catch {
      // Written under another secret, or tampered with: as good as absent.
      return undefined;
    }
  };
  const ttl = (s: ConsoleSession) => Math.max(1, s.endsAt - Math.floor(Date.now() / 1000));

  return {
    /** Stores a new session and returns the cookie value naming it. */
    async create(session: ConsoleSession): Promise<string> {
      const id = randomToken();
      await deps.redis.set(deps.keys.consoleSession(sha256(id)), seal(session), 'EX', ttl(session));
      return id;
    },
    async get(id: string): Promise<ConsoleSession | undefined> {
      const session = open<ConsoleSession>(await deps.redis.get(deps.keys.consoleSession(sha256(id))));
      return session && session.endsAt > Date.now() / 1000 ? session : undefined;
    },
    async save(id: string, session: ConsoleSession): Promise<void> {
      await deps.redis.set(deps.keys.consoleSession(sha256(id)), seal(session), 'EX', ttl(session));
    },
    async destroy(id: string): Promise<void> {
      await deps.redis.del(deps.keys.consoleSession(sha256(id)));
    },
    /**
     * Runs `fn` while holding the session's refresh lock, so two requests of one
     * browser don't both redeem the same refresh token (a reuse would revoke the
     * grant). A request that finds the lock taken waits for the holder and
     * reads what it saved.
     */
    async withRefreshLock<T>(id: string, fn: () => Promise<T>, waiting: () => Promise<T>): Promise<T> {
      const lock = deps.keys.consoleRefreshLock(sha256(id));
      if ((await deps.redis.set(lock, '1', 'PX', 10_000, 'NX')) !== 'OK') {
        for (let i = 0; i < 100 && (await deps.redis.exists(lock)); i++) await new Promise((r) => setTimeout(r, 50));
        return waiting();
      }
      try {
        return await fn();
      } finally {
        await deps.redis.del(lock);
      }
    },
    async startLogin(state: string, pending: PendingLogin): Promise<void> {
      await deps.redis.set(deps.keys.consoleLogin(state), seal(pending), 'EX', LOGIN_TTL_SECONDS);
    },
    /** The pending login of `state`, consumed: a state is good for one callback. */
    async takeLogin(state: string): Promise<PendingLogin | undefined> {
      return open<PendingLogin>(await deps.redis.getdel(deps.keys.consoleLogin(state)));
    },
  };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
