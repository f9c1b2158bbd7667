/**
 * A minimal oidc-provider adapter on ioredis for the baseline, after the
 * upstream example: JSON per key with a TTL, a hash for consumable models
 * (payload + consumed), and a per-grant set so revokeByGrantId can find tokens.
 */
import type { Redis } from 'ioredis';
import type { Adapter, AdapterPayload } from 'oidc-provider';

const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export function createBaselineAdapter(redis: Redis, prefix: string) {
  const grantKey = (id: string) => `${prefix}grant:${id}`;
  return class BaselineRedisAdapter implements Adapter {
    constructor(readonly name: string) {}

    key(id: string) {
      return `${prefix}${this.name}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const key = this.key(id);
      const multi = redis.multi();
      if (CONSUMABLE.has(this.name)) multi.hset(key, { payload: JSON.stringify(payload) });
      else multi.set(key, JSON.stringify(payload));
      if (expiresIn) multi.expire(key, expiresIn);
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const gk = grantKey(payload.grantId);
        multi.rpush(gk, key);
        const ttl = await redis.ttl(gk);
        if (expiresIn > ttl) multi.expire(gk, expiresIn);
      }
      if (payload.userCode) multi.set(`${prefix}userCode:${payload.userCode}`, id, 'EX', expiresIn);
      if (payload.uid) multi.set(`${prefix}uid:${payload.uid}`, id, 'EX', expiresIn);
      await multi.exec();
    }

    async find(id: string) {
      if (CONSUMABLE.has(this.name)) {
        const data = await redis.hgetall(this.key(id));
        if (!data.payload) return undefined;
        const parsed = JSON.parse(data.payload) as AdapterPayload;
        return data.consumed ? { ...parsed, consumed: Number(data.consumed) } : parsed;
      }
      const data = await redis.get(this.key(id));
      return data ? (JSON.parse(data) as AdapterPayload) : undefined;
    }

    async findByUid(uid: string) {
      const id = await redis.get(`${prefix}uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode: string) {
      const id = await redis.get(`${prefix}userCode:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async destroy(id: string) {
      await redis.del(this.key(id));
    }

    async revokeByGrantId(grantId: string) {
      const gk = grantKey(grantId);
      const tokens = await redis.lrange(gk, 0, -1);
      await redis.multi().del(...tokens, gk).exec();
    }

    async consume(id: string) {
      await redis.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
    }
  };
}
