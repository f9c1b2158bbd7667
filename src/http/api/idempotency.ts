import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Context } from 'koa';
import { AppError } from '../../errors/index.ts';
import type { RedisKeys } from '../../redis/keys.ts';
import type { Access } from '../../services/authority.ts';

const TTL = 24 * 3600;
const KEY = /^[A-Za-z0-9._:-]{1,255}$/;

/** What a route does with an `Idempotency-Key`: replay a stored answer, or run and then store (or release) it. */
export type IdempotentRun = { replayed: true } | { replayed: false; store(status: number, body: unknown): Promise<void>; release(): Promise<void> };

/**
 * `Idempotency-Key` on POST (SPEC §8). The route has already authenticated the
 * caller, checked the route's capabilities against what the caller holds now
 * and read the body within the route's own limit, so a replay reaches only a
 * caller that passes the same checks at the time of the repeat.
 *
 * The first response (status and body) is kept for 24 h per tenant, actor and
 * key. The body is encrypted (AES-256-GCM) under a key derived from the
 * Idempotency-Key and a server secret, and the Redis key holds only a hash of
 * the Idempotency-Key: what Redis stores can't give back the client secret of
 * a create or a rotation. A repeat with a different request is 422; one that
 * arrives while the first is still running is 409. Failures are not stored.
 */
export function createIdempotency(deps: { redis: Redis; keys: RedisKeys; secret: string }) {
  const { redis, keys } = deps;
  const keyOf = (access: Access, key: string) => {
    const scope = `${access.tenantId}\n${access.actor.type}:${access.actor.id}\n${key}`;
    return {
      redisKey: keys.idempotency(access.tenantId, `${access.actor.type}:${access.actor.id}`, createHash('sha256').update(key).digest('base64url')),
      cipherKey: Buffer.from(hkdfSync('sha256', deps.secret, 'tessera idempotency', scope, 32)),
    };
  };
  const seal = (cipherKey: Buffer, value: unknown): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', cipherKey, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(value ?? null), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  };
  const open = (cipherKey: Buffer, sealed: string): unknown => {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', cipherKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
  };

  return {
    /** Replays the stored answer into `ctx`, or claims the key for this run; undefined when the request carries no key. */
    async begin(ctx: Context, access: Access, raw: Buffer): Promise<IdempotentRun | undefined> {
      const key = ctx.get('idempotency-key');
      if (ctx.method !== 'POST' || !key) return undefined;
      if (!KEY.test(key)) throw new AppError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 URL-safe characters');
      const fingerprint = createHash('sha256').update(`${ctx.method} ${ctx.path}\n`).update(raw).digest('base64url');
      const { redisKey, cipherKey } = keyOf(access, key);
      const claimed = await redis.set(redisKey, JSON.stringify({ state: 'pending', fingerprint }), 'EX', 120, 'NX');
      if (!claimed) {
        const stored = JSON.parse((await redis.get(redisKey)) ?? '{}') as { state?: string; fingerprint?: string; status?: number; sealed?: string };
        if (stored.fingerprint !== fingerprint) throw new AppError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for a different request');
        if (stored.state !== 'done' || !stored.sealed) throw new AppError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed');
        ctx.status = stored.status!;
        const body = open(cipherKey, stored.sealed);
        if (body !== null) ctx.body = body;
        ctx.set('Idempotent-Replayed', 'true');
        return { replayed: true };
      }
      return {
        replayed: false,
        async store(status, body) {
          if (status >= 400) await redis.del(redisKey);
          else await redis.set(redisKey, JSON.stringify({ state: 'done', fingerprint, status, sealed: seal(cipherKey, body) }), 'EX', TTL);
        },
        // A failed request changed nothing (changes are transactional), so the key is freed for a corrected retry.
        release: async () => void (await redis.del(redisKey)),
      };
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;
