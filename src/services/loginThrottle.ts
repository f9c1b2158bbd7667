import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';

export interface ThrottleLimits {
  perAccount: number;
  perIp: number;
  windowSeconds: number;
}

/**
 * Fixed-window counters of failed sign-ins per account and per IP, in Redis so
 * every process shares them. Accounts are keyed by a hash of tenant and email,
 * which also covers emails that don't exist (no oracle through the limiter).
 */
export function createLoginThrottle(deps: { redis: Redis; keys: RedisKeys; limits: ThrottleLimits }) {
  const { redis, keys, limits } = deps;
  const window = () => Math.floor(Date.now() / 1000 / limits.windowSeconds);
  const accountId = (tenantId: string, email: string) => createHash('sha256').update(`${tenantId}\n${email.trim().toLowerCase()}`).digest('hex').slice(0, 32);
  const keysFor = (tenantId: string, email: string, ip: string) => {
    const w = window();
    return [keys.rateLimit('account', accountId(tenantId, email), w), keys.rateLimit('ip', ip, w)] as const;
  };
  return {
    /** The limit that has been reached (the account's first), or undefined while both allow another attempt. */
    async blockedBy(tenantId: string, email: string, ip: string): Promise<'account' | 'ip' | undefined> {
      const [acct, ipKey] = keysFor(tenantId, email, ip);
      const [a, i] = await redis.mget(acct, ipKey);
      if (Number(a ?? 0) >= limits.perAccount) return 'account';
      if (Number(i ?? 0) >= limits.perIp) return 'ip';
      return undefined;
    },
    async recordFailure(tenantId: string, email: string, ip: string): Promise<void> {
      const [acct, ipKey] = keysFor(tenantId, email, ip);
      await redis.multi().incr(acct).expire(acct, limits.windowSeconds, 'NX').incr(ipKey).expire(ipKey, limits.windowSeconds, 'NX').exec();
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
