import { z } from 'zod';

/** Signing algorithms Tessera can mint access and ID tokens with. */
export const SIGNING_ALGS = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().default('0.0.0.0'),
    // Let outbound calls (back-channel logout) reach loopback and private addresses: development and tests only.
    TESSERA_ALLOW_PRIVATE_OUTBOUND: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    // Set, /metrics moves to its own listener on this port and leaves the public one (CHECKLIST 36).
    TESSERA_METRICS_PORT: optionalString.pipe(z.coerce.number<string | undefined>().int().min(1).max(65535).optional()),
    TESSERA_ISSUER: optionalString.pipe(z.url().optional()),
    DATABASE_URL: optionalString.pipe(z.url().optional()),
    TESSERA_DATA_DIR: z.string().default('./.tessera'),
    /** Postgres connections per process at most; keep (processes × this) under the server's max_connections. */
    TESSERA_DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
    /**
     * Sentinel endpoints ("host:port,host:port"). When set, Tessera asks them for
     * the current primary of REDIS_SENTINEL_NAME and follows failovers; REDIS_URL
     * then only supplies the data nodes' password, database and TLS.
     */
    REDIS_SENTINELS: optionalString.pipe(
      z
        .string()
        .regex(/^\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\s*(,\s*(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\s*)*$/, 'a comma-separated list of host:port')
        .optional(),
    ),
    REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
    REDIS_SENTINEL_PASSWORD: optionalString,
    TESSERA_REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, ":", "_" or "-", up to 64 characters')
      .default('tessera:'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    TESSERA_SIGNING_ALG: z.enum(SIGNING_ALGS).default('ES256'),
    TESSERA_ACCESS_TOKEN_TTL: z.coerce.number().int().min(30).max(86_400).default(300),
    TESSERA_ID_TOKEN_TTL: z.coerce.number().int().min(30).max(86_400).default(3_600),
    /**
     * How long a staged signing key must be published before it may be promoted,
     * and the margin added after the old key's last token expires before it may be
     * retired. Cover resource servers' JWKS cache (jose's default: 10 minutes).
     */
    TESSERA_KEY_PROPAGATION_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
    TESSERA_REFRESH_TOKEN_TTL: z.coerce.number().int().min(300).max(31_536_000).default(14 * 86_400),
    TESSERA_SESSION_TTL: z.coerce.number().int().min(300).max(31_536_000).default(14 * 86_400),
    /**
     * Share of successful OIDC endpoint responses (token, authorization, JWKS…) written to the access
     * log; every 4xx and 5xx is written, and metrics count every request. One line per token request
     * at `info` cost about a quarter of the token endpoint's throughput (README, Benchmarks).
     */
    TESSERA_ACCESS_LOG_SAMPLE: z.coerce.number().min(0).max(1).default(0.01),
    TESSERA_LOGIN_MAX_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
    TESSERA_LOGIN_MAX_PER_IP: z.coerce.number().int().min(1).default(100),
    TESSERA_LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
    /** How long a worker's job lock lasts; a killed worker's job is retried after it lapses (stalled checks run every half of it). */
    TESSERA_JOB_LOCK_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
    /** Where finished audit exports are written; defaults to `<TESSERA_DATA_DIR>/exports`. */
    TESSERA_EXPORT_DIR: optionalString,
    /** How long an audit export can be downloaded before its file is deleted. */
    // Per-tenant concurrency of expensive jobs (SPEC §8): queued or running at once; more is 429 with Retry-After.
    TESSERA_MAX_ACTIVE_EXPORTS: z.coerce.number().int().min(1).max(1_000).default(3),
    TESSERA_MAX_ACTIVE_BULK_JOBS: z.coerce.number().int().min(1).max(1_000).default(2),
    TESSERA_EXPORT_TTL_HOURS: z.coerce.number().positive().max(8_760).default(168),
    TESSERA_TRUST_PROXY: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    TESSERA_BOOTSTRAP_TENANT: optionalString.pipe(
      z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a lowercase slug like "acme" or "acme-eu"').max(64).optional(),
    ),
    TESSERA_BOOTSTRAP_OWNER_EMAIL: optionalString.pipe(z.email().optional()),
    TESSERA_BOOTSTRAP_OWNER_PASSWORD: optionalString.pipe(z.string().min(12, 'at least 12 characters').optional()),
    TESSERA_BOOTSTRAP_CLIENT_ID: optionalString.pipe(
      z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, 'URL-safe characters, 3-128 long').optional(),
    ),
    TESSERA_BOOTSTRAP_CLIENT_SECRET: optionalString.pipe(z.string().min(32, 'at least 32 characters').optional()),
  })
  .superRefine((env, ctx) => {
    if (env.TESSERA_ISSUER?.endsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['TESSERA_ISSUER'], message: 'must not end with "/"' });
    }
  });

export type Env = z.infer<typeof schema>;

/** Every environment variable Tessera reads (deployment files are checked against this list). */
export const CONFIG_KEYS: readonly (keyof Env)[] = Object.freeze(Object.keys(schema.shape) as (keyof Env)[]);

/** Validated, frozen runtime configuration. */
export interface Config extends Readonly<Env> {
  readonly issuer: string;
  readonly apiAudience: string;
}

/** Thrown when the environment is invalid; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once. Nothing else in Tessera reads process.env. */
// eslint-disable-next-line no-restricted-syntax -- the one place that reads the environment
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const issuer = env.TESSERA_ISSUER ?? `http://localhost:${env.PORT}`;
  return Object.freeze({ ...env, issuer, apiAudience: `${issuer}/api` });
}
