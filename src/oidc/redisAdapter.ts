import type { Redis } from 'ioredis';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { RedisKeys } from '../redis/keys.ts';
import { failClosed } from './errors.ts';
import { memoPerRequest, takePerRequest } from '../runtime/requestContext.ts';

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

/**
 * Saves one model and its lookup keys in one round trip. KEYS: the model key,
 * then the grant index, user-code key, session-uid key and account index (each
 * optional, flagged in ARGV[3..6]). Index sets keep the longest TTL of their members.
 */
const UPSERT = `
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'p', ARGV[1])
redis.call('EXPIRE', KEYS[1], ttl)
local k = 2
local function index(flag)
  if flag == '1' then
    redis.call('SADD', KEYS[k], KEYS[1])
    if redis.call('TTL', KEYS[k]) < ttl then redis.call('EXPIRE', KEYS[k], ttl) end
    k = k + 1
  end
end
local function pointer(flag)
  if flag == '1' then
    redis.call('SET', KEYS[k], ARGV[7], 'EX', ttl)
    k = k + 1
  end
end
index(ARGV[3]); pointer(ARGV[4]); pointer(ARGV[5]); index(ARGV[6])
return 1`;

/**
 * Follows a lookup key (session uid, user code) to its model and reads it, in one round trip:
 * KEYS[1] is the pointer, ARGV[1] the model's key prefix. A refresh bound to a session looks the
 * session up by uid on every use, so this is one round trip of each refresh, not two.
 */
const FIND_BY_POINTER = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HMGET', ARGV[1] .. id, 'p', 'c')`;

/** Deletes every key of a grant and the index itself, atomically. */
const REVOKE_GRANT = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #members`;

type Parsed = AdapterPayload & { consumed?: number };

/** A model's stored fields (payload, consumed time) as the provider reads them; undefined when it is gone. */
function parsedModel(fields: readonly (string | null)[] | null | undefined): Parsed | undefined {
  const [payload, consumed] = fields ?? [null, null];
  if (!payload) return undefined;
  const parsed = JSON.parse(payload) as Parsed;
  if (consumed) parsed.consumed = Number(consumed);
  return parsed;
}

export interface RedisAdapterDeps {
  redis: Redis;
  keys: RedisKeys;
  onError?: (e: unknown) => void;
  /** Where the current request comes from, recorded with each signed-in session for the sessions list. */
  requestInfo?: () => { ip?: string | undefined; userAgent?: string | undefined } | undefined;
}

/** Builds the oidc-provider adapter class for every Redis-held model. */
export function createRedisAdapterClass(deps: RedisAdapterDeps) {
  const { redis, keys, onError, requestInfo } = deps;
  redis.defineCommand('tesseraConsume', { numberOfKeys: 1, lua: CONSUME });
  redis.defineCommand('tesseraUpsert', { lua: UPSERT });
  redis.defineCommand('tesseraRevokeGrant', { numberOfKeys: 1, lua: REVOKE_GRANT });
  redis.defineCommand('tesseraFindByPointer', { numberOfKeys: 1, lua: FIND_BY_POINTER });
  const r = redis as Redis & {
    tesseraConsume(key: string, at: string): Promise<[number, string | null]>;
    tesseraRevokeGrant(key: string): Promise<number>;
    tesseraUpsert(numKeys: number, ...args: string[]): Promise<number>;
    tesseraFindByPointer(pointer: string, modelPrefix: string): Promise<(string | null)[] | null>;
  };
  const guard = <T>(fn: () => Promise<T>) => failClosed(fn, onError);

  return class RedisAdapter implements Adapter {
    constructor(readonly model: string) {}

    private key(id: string) {
      return keys.oidcModel(this.model, id);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const grantId = this.model === 'Grant' ? id : payload.grantId;
      const grantIndex = GRANTABLE.has(this.model) && grantId ? keys.grantIndex(grantId) : undefined;
      const userCode = payload.userCode ? keys.userCode(payload.userCode) : undefined;
      const uid = payload.uid && this.model === 'Session' ? keys.sessionUid(payload.uid) : undefined;
      const account = ACCOUNT_INDEXED.has(this.model) && payload.accountId ? keys.accountIndex(payload.accountId) : undefined;
      const optional = [grantIndex, userCode, uid, account];
      const present = optional.filter((k): k is string => k !== undefined);
      const flags = optional.map((k) => (k ? '1' : '0'));
      const ttl = String(Math.max(1, Math.ceil(expiresIn)));
      await guard(() => r.tesseraUpsert(1 + present.length, this.key(id), ...present, JSON.stringify(payload), ttl, ...flags, id));
      if (uid && payload.accountId) await guard(() => this.touchSessionMeta(payload.uid!, ttl));
    }

    /** First sign-in time, IP and user agent are kept from the first save; last activity from every save. */
    private async touchSessionMeta(uid: string, ttl: string): Promise<void> {
      const meta = keys.sessionMeta(uid);
      const info = requestInfo?.() ?? {};
      const now = new Date().toISOString();
      const pipe = r.pipeline().hsetnx(meta, 'created_at', now).hset(meta, 'last_active_at', now);
      if (info.ip) pipe.hsetnx(meta, 'ip', info.ip);
      if (info.userAgent) pipe.hsetnx(meta, 'user_agent', info.userAgent.slice(0, 512));
      await pipe.expire(meta, Number(ttl)).exec();
    }

    /**
     * Starts reading a model the current request is about to look up, so the read shares a Redis round trip
     * with the request's other reads (auto-pipelining). The next `find` of that id in the request takes it.
     */
    static readAhead(model: string, id: string): void {
      const key = `oidc-read-ahead:${model}:${id}`;
      memoPerRequest(key, () => r.hmget(keys.oidcModel(model, id), 'p', 'c'));
    }

    async find(id: string): Promise<Parsed | undefined> {
      const ahead = takePerRequest<(string | null)[]>(`oidc-read-ahead:${this.model}:${id}`);
      return guard(async () => parsedModel(await (ahead ?? r.hmget(this.key(id), 'p', 'c'))));
    }

    async findByUid(uid: string): Promise<Parsed | undefined> {
      return guard(async () => parsedModel(await r.tesseraFindByPointer(keys.sessionUid(uid), this.key(''))));
    }

    async findByUserCode(userCode: string): Promise<Parsed | undefined> {
      return guard(async () => parsedModel(await r.tesseraFindByPointer(keys.userCode(userCode), this.key(''))));
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
