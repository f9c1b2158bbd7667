import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';
import { foldCase } from '../text/index.ts';

export interface ThrottleLimits {
  perAccount: number;
  perIp: number;
  windowSeconds: number;
}

/**
 * Counts an attempt against both windows and says which limit it went past,
 * in one step, so concurrent guesses can't all read "below the limit" before
 * any of them is counted (CHECKLIST 32).
 */
const TAKE = `
local a = redis.call('INCR', KEYS[1])
if a == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local i = redis.call('INCR', KEYS[2])
if i == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
if a > tonumber(ARGV[2]) then return 1 end
if i > tonumber(ARGV[3]) then return 2 end
return 0`;

/** A successful sign-in gives its attempt back, so only failures use up the window. */
const REFUND = `
for _, k in ipairs(KEYS) do
  if (tonumber(redis.call('GET', k) or '0')) > 0 then redis.call('DECR', k) end
end
return 0`;

type ThrottleRedis = Redis & {
  tesseraThrottleTake(account: string, ip: string, window: number, perAccount: number, perIp: number): Promise<number>;
  tesseraThrottleRefund(account: string, ip: string): Promise<number>;
};

/**
 * Fixed-window counters of sign-in attempts per account and per IP, in Redis so
 * every process shares them. An attempt is counted before the password is
 * checked. Accounts are keyed by a hash of the tenant and the one case folding
 * of the email (text/index.ts), the same key the user lookup uses, so case and
 * Unicode variants of an address share one window; emails that don't exist are
 * counted the same way (no oracle through the limiter).
 */
export function createLoginThrottle(deps: { redis: Redis; keys: RedisKeys; limits: ThrottleLimits }) {
  const { keys, limits } = deps;
  const redis = deps.redis as ThrottleRedis;
  redis.defineCommand('tesseraThrottleTake', { numberOfKeys: 2, lua: TAKE });
  redis.defineCommand('tesseraThrottleRefund', { numberOfKeys: 2, lua: REFUND });
  const window = () => Math.floor(Date.now() / 1000 / limits.windowSeconds);
  const accountId = (tenantId: string, email: string) => createHash('sha256').update(`${tenantId}\n${foldCase(email)}`).digest('hex').slice(0, 32);
  const keysFor = (tenantId: string, email: string, ip: string) => {
    const w = window();
    return [keys.rateLimit('account', accountId(tenantId, email), w), keys.rateLimit('ip', ip, w)] as const;
  };
  return {
    /** Counts this attempt; returns the limit it went past (the account's first), or undefined when it may be evaluated. */
    async take(tenantId: string, email: string, ip: string): Promise<'account' | 'ip' | undefined> {
      const [acct, ipKey] = keysFor(tenantId, email, ip);
      const over = await redis.tesseraThrottleTake(acct, ipKey, limits.windowSeconds, limits.perAccount, limits.perIp);
      return over === 1 ? 'account' : over === 2 ? 'ip' : undefined;
    },
    /** Gives back the attempt of a sign-in that succeeded. */
    async refund(tenantId: string, email: string, ip: string): Promise<void> {
      const [acct, ipKey] = keysFor(tenantId, email, ip);
      await redis.tesseraThrottleRefund(acct, ipKey);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
