import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.ts';

/**
 * Removes everything an account holds in Redis in one atomic step: each
 * session (and its uid pointer and metadata), each grant, and every token of
 * each grant (refresh tokens, opaque access tokens, codes). KEYS[1] is the
 * account index; ARGV holds the key prefixes so key layout stays in keys.ts.
 * With ARGV[4] set, only that session and its grants go (revoke one).
 */
const PURGE = `
local index = KEYS[1]
local grantIndexPrefix, uidPrefix, metaPrefix, only = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local counts = { sessions = 0, grants = 0, refresh_tokens = 0, access_tokens = 0, codes = 0 }
local function dropGrant(grantKey, grantId)
  local members = redis.call('SMEMBERS', grantIndexPrefix .. grantId)
  for _, key in ipairs(members) do
    if redis.call('DEL', key) == 1 then
      if string.find(key, ':RefreshToken:', 1, true) then counts.refresh_tokens = counts.refresh_tokens + 1
      elseif string.find(key, ':AccessToken:', 1, true) then counts.access_tokens = counts.access_tokens + 1
      elseif string.find(key, ':AuthorizationCode:', 1, true) then counts.codes = counts.codes + 1
      elseif string.find(key, ':Grant:', 1, true) then counts.grants = counts.grants + 1 end
    end
  end
  redis.call('DEL', grantIndexPrefix .. grantId)
  if grantKey and redis.call('DEL', grantKey) == 1 then counts.grants = counts.grants + 1 end
  redis.call('SREM', index, grantKey)
end
local targets = {}
if only ~= '' then
  targets = { only }
else
  targets = redis.call('SMEMBERS', index)
end
for _, key in ipairs(targets) do
  local payload = redis.call('HGET', key, 'p')
  if string.find(key, ':Session:', 1, true) then
    if payload then
      local session = cjson.decode(payload)
      if session.uid then redis.call('DEL', uidPrefix .. session.uid, metaPrefix .. session.uid) end
      if only ~= '' and type(session.authorizations) == 'table' then
        for _, auth in pairs(session.authorizations) do
          if type(auth) == 'table' and auth.grantId then
            local grantKey = string.gsub(key, ':Session:.*$', ':Grant:') .. auth.grantId
            dropGrant(grantKey, auth.grantId)
          end
        end
      end
      if redis.call('DEL', key) == 1 then counts.sessions = counts.sessions + 1 end
    end
    redis.call('SREM', index, key)
  elseif only == '' and string.find(key, ':Grant:', 1, true) then
    local grantId = string.match(key, ':Grant:(.*)$')
    dropGrant(key, grantId)
  end
end
if only == '' then redis.call('DEL', index) end
return cjson.encode(counts)`;

export interface PurgeCounts {
  sessions: number;
  grants: number;
  refresh_tokens: number;
  access_tokens: number;
  codes: number;
}

/** Atomic removal of an account's sessions, grants and tokens (all of them, or one session's). */
export function createPurger(deps: { redis: Redis; keys: RedisKeys }) {
  const { redis, keys } = deps;
  redis.defineCommand('tesseraPurge', { numberOfKeys: 1, lua: PURGE });
  const r = redis as Redis & { tesseraPurge(index: string, ...argv: string[]): Promise<string> };
  const prefixes = [keys.grantIndex(''), keys.sessionUid(''), keys.sessionMeta('')];
  return {
    /** Everything of the account. */
    async all(accountId: string): Promise<PurgeCounts> {
      return JSON.parse(await r.tesseraPurge(keys.accountIndex(accountId), ...prefixes, '')) as PurgeCounts;
    },
    /** One session (by its storage id) and the grants it authorised. */
    async session(accountId: string, sessionId: string): Promise<PurgeCounts> {
      return JSON.parse(await r.tesseraPurge(keys.accountIndex(accountId), ...prefixes, keys.oidcModel('Session', sessionId))) as PurgeCounts;
    },
  };
}

export type Purger = ReturnType<typeof createPurger>;
