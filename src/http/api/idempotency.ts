import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Middleware } from 'koa';
import { AppError } from '../../errors/index.ts';
import type { RedisKeys } from '../../redis/keys.ts';
import type { Principal } from './principal.ts';
import { BODY_LIMIT, readBody } from './route.ts';

const TTL = 24 * 3600;
const KEY = /^[A-Za-z0-9._:-]{1,255}$/;

/**
 * `Idempotency-Key` on POST: the first response (status and body) is stored
 * for 24 h per tenant and actor, and a repeat with the same key gets it back.
 * A repeat with a different request is 422; one that arrives while the first
 * is still running is 409. Failures are not stored, so a corrected retry runs.
 */
export function idempotency(deps: { redis: Redis; keys: RedisKeys }): Middleware {
  return async (ctx, next) => {
    const key = ctx.get('idempotency-key');
    if (ctx.method !== 'POST' || !key) return next();
    if (!KEY.test(key)) throw new AppError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 URL-safe characters');
    const principal = ctx.state.principal as Principal;
    // The body is not read yet; fingerprint what identifies the operation and hash the body after.
    const raw = await readBody(ctx, BODY_LIMIT);
    const fingerprint = createHash('sha256').update(`${ctx.method} ${ctx.path}\n`).update(raw).digest('base64url');
    const redisKey = deps.keys.idempotency(principal.tenantId, `${principal.actor.type}:${principal.actor.id}`, key);
    const claimed = await deps.redis.set(redisKey, JSON.stringify({ state: 'pending', fingerprint }), 'EX', 120, 'NX');
    if (!claimed) {
      const stored = JSON.parse((await deps.redis.get(redisKey)) ?? '{}') as { state?: string; fingerprint?: string; status?: number; body?: unknown };
      if (stored.fingerprint !== fingerprint) throw new AppError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for a different request');
      if (stored.state !== 'done') throw new AppError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed');
      ctx.status = stored.status!;
      if (stored.body !== undefined) ctx.body = stored.body;
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    // The route reads the body from here; the request stream is already consumed.
    ctx.state.rawBody = raw;
    try {
      await next();
    } catch (err) {
      // A failed request changed nothing (changes are transactional), so the key is freed for a corrected retry.
      await deps.redis.del(redisKey);
      throw err;
    }
    if (ctx.status >= 400) await deps.redis.del(redisKey);
    else await deps.redis.set(redisKey, JSON.stringify({ state: 'done', fingerprint, status: ctx.status, body: ctx.body }), 'EX', TTL);
  };
}
