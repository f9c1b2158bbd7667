import { Redis, type RedisOptions } from 'ioredis';

/**
 * Where Redis is: a URL, or a Sentinel-monitored primary. With Sentinel,
 * REDIS_URL still supplies the credentials, database and TLS of the data
 * nodes; its host is not used.
 */
export interface RedisTarget {
  url: string;
  sentinels?: Array<{ host: string; port: number }>;
  /** The primary's name in Sentinel (`sentinel monitor <name> …`). */
  sentinelName?: string;
  sentinelPassword?: string;
}

export function redisTarget(config: { REDIS_URL: string; REDIS_SENTINELS?: string | undefined; REDIS_SENTINEL_NAME: string; REDIS_SENTINEL_PASSWORD?: string | undefined }): RedisTarget {
  if (!config.REDIS_SENTINELS) return { url: config.REDIS_URL };
  return {
    url: config.REDIS_URL,
    sentinels: parseSentinels(config.REDIS_SENTINELS),
    sentinelName: config.REDIS_SENTINEL_NAME,
    ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
  };
}

/** "host:port,host:port" (port defaults to 26379); throws on anything else. */
export function parseSentinels(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((entry) => {
    const m = /^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\s*$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not host:port`);
    const port = m[2] ? Number(m[2]) : 26379;
    if (port < 1 || port > 65535) throw new Error(`"${entry}" has an invalid port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** A human description for error messages: never the password. */
export function describeTarget(target: RedisTarget): string {
  if (target.sentinels) return `the "${target.sentinelName}" primary via Sentinel ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (REDIS_SENTINELS)`;
  return `${new URL(target.url).host} (REDIS_URL)`;
}

/**
 * After a Sentinel failover the old primary becomes a replica and refuses writes
 * with READONLY until the client reconnects; reconnecting asks Sentinel for the
 * new primary and resends the failed command.
 */
const reconnectOnReadonly: RedisOptions['reconnectOnError'] = (err) => (err.message.startsWith('READONLY') ? 2 : false);

/** Opens a connection to `target` with Tessera's per-role options on top. */
export function newRedis(target: RedisTarget, options: RedisOptions): Redis {
  const common: RedisOptions = { reconnectOnError: reconnectOnReadonly, ...options };
  if (!target.sentinels) return new Redis(target.url, common);
  const url = new URL(target.url);
  const db = Number(url.pathname.replace(/^\//, '') || 0);
  return new Redis({
    sentinels: target.sentinels,
    name: target.sentinelName!,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    db: Number.isInteger(db) ? db : 0,
    ...common,
  });
}
