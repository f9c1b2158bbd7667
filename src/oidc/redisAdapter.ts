import type { Redis } from 'ioredis';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { RedisKeys } from '../sessions/keys.ts';
import { failClosed } from './errors.ts';

/** Models whose instances hang off a grant and go when the grant is revoked. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'Grant']);
/** Models listed per account so sessions can be listed and revoked all at once. */
const ACCOUNT_INDEXED = new Set(['Session', 'Grant']);

/**
 * Atomic consume. Marks the model consumed only if it exists and is not yet
 * consumed; otherwise returns the payload so the caller can revoke its grant.
 * oidc-provider checks `consumed` and then calls consume() without a lock, so
 * this script is what makes 20 concurrent redemptions yield exactly one token.
 */
const CONSUME = `
local payload = redis.call('HGET', KEYS[1], 'p')
if not payload then return {0, false} end
if redis.call('HSETNX', KEYS[1], 'c', ARGV[1]) == 0 then return {0, payload} end
return {1, false}`;

/** Deletes every key of a grant and the index itself, atomically. */
const REVOKE_GRANT = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #members`;

type Parsed = AdapterPayload & { consumed?: number };

export interface RedisAdapterDeps {
  redis: Redis;
  keys: RedisKeys;
  onError?: (e: unknown) => void;
}

/** Builds the oidc-provider adapter class for every Redis-held model. */
export function createRedisAdapterClass(deps: RedisAdapterDeps) {
  const { redis, keys, onError } = deps;
  redis.defineCommand('tesseraConsume', { numberOfKeys: 1, lua: CONSUME });
  redis.defineCommand('tesseraRevokeGrant', { numberOfKeys: 1, lua: REVOKE_GRANT });
  const r = redis as Redis & {
    tesseraConsume(key: string, at: string): Promise<[number, string | null]>;
    tesseraRevokeGrant(key: string): Promise<number>;
  };
  const guard = <T>(fn: () => Promise<T>) => failClosed(fn, onError);

  return class RedisAdapter implements Adapter {
    constructor(readonly model: string) {}

    private key(id: string) {
      return keys.oidcModel(this.model, id);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await guard(async () => {
        const key = this.key(id);
        const ttl = Math.max(1, Math.ceil(expiresIn));
        const multi = r.multi().del(key).hset(key, 'p', JSON.stringify(payload)).expire(key, ttl);
        const grantId = this.model === 'Grant' ? id : payload.grantId;
        if (GRANTABLE.has(this.model) && grantId) {
          const index = keys.grantIndex(grantId);
          multi.sadd(index, key).expire(index, ttl, 'GT').expire(index, ttl, 'NX');
        }
        if (payload.userCode) multi.set(keys.userCode(payload.userCode), id, 'EX', ttl);
        if (payload.uid && this.model === 'Session') multi.set(keys.sessionUid(payload.uid), id, 'EX', ttl);
        if (ACCOUNT_INDEXED.has(this.model) && payload.accountId) {
          const index = keys.accountIndex(payload.accountId);
          multi.sadd(index, key).expire(index, ttl, 'GT').expire(index, ttl, 'NX');
        }
        await multi.exec();
      });
    }

    async find(id: string): Promise<Parsed | undefined> {
      return guard(async () => {
        const [payload, consumed] = await r.hmget(this.key(id), 'p', 'c');
        if (!payload) return undefined;
        const parsed = JSON.parse(payload) as Parsed;
        if (consumed) parsed.consumed = Number(consumed);
        return parsed;
      });
    }

    async findByUid(uid: string): Promise<Parsed | undefined> {
      const id = await guard(() => r.get(keys.sessionUid(uid)));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode: string): Promise<Parsed | undefined> {
      const id = await guard(() => r.get(keys.userCode(userCode)));
      return id ? this.find(id) : undefined;
    }

    async consume(id: string): Promise<void> {
      const [ok, payload] = await guard(() => r.tesseraConsume(this.key(id), String(Math.floor(Date.now() / 1000))));
      if (ok === 1) return;
      // Lost the race (or the token vanished): treat it as reuse, which revokes the grant.
      const grantId = payload ? (JSON.parse(payload) as AdapterPayload).grantId : undefined;
      if (grantId) await this.revokeByGrantId(grantId);
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async destroy(id: string): Promise<void> {
      await guard(() => r.del(this.key(id)));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await guard(() => r.tesseraRevokeGrant(keys.grantIndex(grantId)));
    }
  };
}
