import { randomBytes } from 'node:crypto';
import type { RequestListener, Server } from 'node:http';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type Koa from 'koa';
import type Router from '@koa/router';
import Provider from 'oidc-provider';
import type { Config } from '../config/index.ts';
import { openDatabase, type DbHandle } from '../db/client.ts';
import { describeDatabaseError, describeListenError } from '../errors/startup.ts';
import { signingAlgs } from '../services/signingKeys.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { createTenantVersions } from '../cache/tenantVersions.ts';
import { createRedisEpoch } from '../cache/redisEpoch.ts';
import { createRedisKeys } from '../redis/keys.ts';
import { createEntitlementLoader, type EntitlementCacheStats } from '../entitlements/loader.ts';
import { createServices } from '../services/index.ts';
import { createSignIn } from '../services/signIn.ts';
import { isJwtUserinfo, jwtUserinfoRoutes } from '../oidc/userinfo.ts';
import { createBackchannelLogout } from '../oidc/backchannel.ts';
import { createExpiryScheduler } from '../jobs/expiry.ts';
import { auditExportConfig } from '../services/auditExports/index.ts';
import { createProducers } from '../jobs/queues.ts';
import { registerJobGauge } from '../jobs/metrics.ts';
import { createRevocations } from '../sessions/revocations.ts';
import { apiRouter } from '../http/routes/api/index.ts';
import { createBrandingLookup } from '../services/branding.ts';
import { createLoginThrottle } from '../services/loginThrottle.ts';
import { bootstrapTenant, formatBootstrap, isFirstStart, type BootstrapResult } from '../services/bootstrap.ts';
import { createKeyRing, type KeyRing } from '../oidc/keyRing.ts';
import { getOrCreateSecret } from '../queries/keys.ts';
import { createRedisAdapterClass } from '../oidc/redisAdapter.ts';
import { createClientAdapter, createClientDirectory } from '../oidc/clients.ts';
import { createAccountDirectory, createFindAccount } from '../oidc/accounts.ts';
import { createResourcePolicy } from '../oidc/resources.ts';
import { createProvider } from '../oidc/provider.ts';
import { jwtIntrospection } from '../oidc/introspection.ts';
import { createFeedHub } from '../sessions/feedHub.ts';
import { createProviderMetrics } from '../oidc/metrics.ts';
import { createHttpMetrics, createSignInMetrics, registerDbPoolGauge, registerEntitlementCacheMetric } from './metrics.ts';
import { createHttpHandler } from '../http/app.ts';
import { createTokenAuthenticator } from '../http/api/principal.ts';
import { consoleRouter, isRootPage } from '../console/index.tsx';
import { createServer as createHttpServer } from 'node:http';
import { healthRoutes } from '../http/routes/health.ts';
import { interactionRoutes } from '../http/routes/interaction.ts';
import { connectRedis, createRedis } from './redis.ts';
import { redisTarget } from '../redis/connection.ts';
import { countFailures, createHealthMonitor } from '../runtime/health.ts';

/** Everything the data layer needs, shared by the server, the CLI and tests. */
export async function createCore(config: Config, logger: Logger = createLogger(config.LOG_LEVEL)) {
  const target = redisTarget(config);
  const redis = createRedis(target);
  // Without a listener ioredis logs every reconnect attempt as an unhandled error event.
  redis.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
  await connectRedis(redis, target);
  let dbh: DbHandle;
  try {
    dbh = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.TESSERA_DATA_DIR, poolSize: config.TESSERA_DB_POOL_MAX });
    try {
      await dbh.migrate();
    } catch (err) {
      await dbh.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    redis.disconnect();
    throw config.DATABASE_URL ? describeDatabaseError(err, config.DATABASE_URL) : err;
  }
  const db = dbh.db;
  const keys = createRedisKeys(config.TESSERA_REDIS_PREFIX);
  const epoch = createRedisEpoch(redis);
  const versions = createTenantVersions({ redis, keys, epoch });
  const revocations = createRevocations({ db, redis, keys, epoch, versions });
  const producers = createProducers({ redis: target, prefix: keys.bullPrefix() });
  const entitlementStats: EntitlementCacheStats = { hits: 0, misses: 0 };
  const entitlements = createEntitlementLoader({ db, versions, stats: entitlementStats });
  const services = createServices({ db, redis, keys, versions, revocations, producers, scheduleExpiry: createExpiryScheduler({ producers, logger }),
    tenantGraph: (tenantId) => entitlements.graph(tenantId),
    jobLimits: { audit_export: config.TESSERA_MAX_ACTIVE_EXPORTS, bulk_role_assignment: config.TESSERA_MAX_ACTIVE_BULK_JOBS },
    idTokenAlgs: signingAlgs(config.TESSERA_SIGNING_ALG),
    logger, exports: { driver: dbh.driver, config: auditExportConfig(config) } });
  const { audit, change } = services;
  return {
    config,
    logger,
    redis,
    /** Where Redis is, for connections of their own (BullMQ workers). */
    redisTarget: target,
    dbh,
    db,
    keys,
    versions,
    revocations,
    audit,
    change,
    services,
    /** Cached entitlement lookups (token issuance, the admin principal) and their hit counters. */
    entitlements,
    entitlementStats,
    producers,
    async close() {
      await producers.close().catch(() => undefined);
      await dbh.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}

export type Core = Awaited<ReturnType<typeof createCore>>;

/** Printed on every start after the first: how to recover the printed-once credentials. */
export const RECOVERY_HINT = [
  '  Admin console: <issuer>/console (sign in with an admin user).',
  '  Lost the admin client secret? Issue a new one (this works while Tessera runs):',
  '    npm run cli -- rotate-client-secret --tenant default --client default-admin-automation',
  '  Lost the Owner password? Sign in with the admin client and POST /api/v1/users/<owner id>/password (docs/quickstart.md).',
].join('\n');

/** Creates the tenant from TESSERA_BOOTSTRAP_* (or a default one on a first start). */
export async function runBootstrap(core: Core): Promise<BootstrapResult | undefined> {
  const { config } = core;
  if (!config.TESSERA_BOOTSTRAP_TENANT && !(await isFirstStart(core.db))) return undefined;
  return bootstrapTenant(core, {
    tenant: config.TESSERA_BOOTSTRAP_TENANT,
    ownerEmail: config.TESSERA_BOOTSTRAP_OWNER_EMAIL,
    ownerPassword: config.TESSERA_BOOTSTRAP_OWNER_PASSWORD,
    clientId: config.TESSERA_BOOTSTRAP_CLIENT_ID,
    clientSecret: config.TESSERA_BOOTSTRAP_CLIENT_SECRET,
  });
}

export interface Server_ {
  core: Core;
  app: Koa;
  /** Tessera's own routers (health, sign-in pages, admin API), for introspection in tests. */
  routers: Router[];
  /** The provider serving requests now (rebuilt after each signing-key change). */
  readonly provider: Provider;
  keyRing: KeyRing;
  registry: Registry;
  entitlementStats: EntitlementCacheStats;
  bootstrap: BootstrapResult | undefined;
  listen(port?: number, host?: string): Promise<{ server: Server; url: string }>;
  /** Stops accepting connections and waits for requests in flight; Postgres and Redis stay open. */
  closeHttp(): Promise<void>;
  /** closeHttp, then the core's connections. */
  close(): Promise<void>;
}

/**
 * Requests Node's HTTP parser refuses before any handler runs (headers or URL
 * too large, malformed request line) still get a problem+json answer.
 */
function answerMalformedRequest(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify({
    type: `https://tessera.dev/problems/${tooLarge ? 'headers_too_large' : 'bad_request'}`,
    title: tooLarge ? 'headers too large' : 'bad request',
    status,
    code: tooLarge ? 'headers_too_large' : 'bad_request',
    detail: tooLarge ? 'the request line or headers are too large' : 'the request could not be parsed',
  });
  socket.end(`HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Composition root for the HTTP side: builds every object once and wires it. */
export async function createServer(config: Config, opts: { logger?: Logger; printBootstrap?: (text: string) => void } = {}): Promise<Server_> {
  const core = await createCore(config, opts.logger);
  const { db, redis, keys, versions, logger, audit } = core;
  const closeOnFailure: Array<() => Promise<void>> = [];
  try {
    const bootstrap = await runBootstrap(core);
    const print = opts.printBootstrap ?? ((t) => process.stdout.write(`${t}\n`));
    if (bootstrap) print(formatBootstrap(config.issuer, bootstrap, { ownerPassword: !!config.TESSERA_BOOTSTRAP_OWNER_PASSWORD, clientSecret: !!config.TESSERA_BOOTSTRAP_CLIENT_SECRET }));
    // Credentials are printed once; a restart says how to get new ones instead of leaving a newcomer stuck.
    else print(RECOVERY_HINT);

    const [keyRing, cookieSecret] = await Promise.all([
      createKeyRing({ db, redis, channel: keys.signingKeysChannel(), alg: config.TESSERA_SIGNING_ALG, logger }),
      getOrCreateSecret(db, 'cookie-keys', JSON.stringify([randomBytes(32).toString('base64url')])),
    ]);
    closeOnFailure.push(() => keyRing.close());
    const cookieKeys = JSON.parse(cookieSecret) as string[];

    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    registerJobGauge(registry, core.producers);
    registerDbPoolGauge(registry, core.dbh.poolStats);
    const backingErrors = new Counter({
      name: 'tessera_backing_errors_total',
      help: 'Failed reachability checks of Postgres and Redis (probed every second and after each request that hit a backing-service error)',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    const probes = countFailures({ postgres: () => core.dbh.ping(), redis: async () => void (await redis.ping()) }, (service) => backingErrors.inc({ service }));
    const health = createHealthMonitor(probes, {
      onChange(service, up) {
        if (up) logger.info({ service }, `${service} is reachable again: Tessera has recovered and serves every endpoint`);
        else logger.error({ service }, `${service} is unreachable: Tessera is failing closed (token, authorization and admin endpoints answer 503 until it is back)`);
      },
    });
    const onError = (err: unknown) => {
      logger.warn({ err: (err as Error)?.message }, 'backing service error during OIDC request');
      // Re-probe now rather than at the next tick, so the gate closes within milliseconds.
      void health.check();
    };

    const { entitlements, entitlementStats } = core;
    registerEntitlementCacheMetric(registry, entitlementStats);
    const providerMetrics = createProviderMetrics(registry, logger);
    const RedisAdapter = createRedisAdapterClass({
      redis,
      keys,
      onError,
      requestInfo: () => {
        const ctx = Provider.ctx;
        return ctx ? { ip: ctx.ip, userAgent: ctx.get('user-agent') } : undefined;
      },
    });
    const clientDirectory = createClientDirectory({ db, versions });
    const accountDirectory = createAccountDirectory({ db, versions });
    const clientAdapter = createClientAdapter(clientDirectory, onError);
    const branding = createBrandingLookup({ db, versions });
    const findAccount = createFindAccount(accountDirectory, core.revocations, versions, onError);
    const resources = createResourcePolicy({ config, db, versions, entitlements, onError });
    const introspection = jwtIntrospection({
      issuer: config.issuer,
      verifyKey: keyRing.verifyKey,
      algorithms: [config.TESSERA_SIGNING_ALG, 'ES256', 'EdDSA', 'PS256', 'RS256'],
      clients: clientDirectory,
      accounts: accountDirectory,
      revocations: core.revocations,
      onError,
    });
    // oidc-provider fixes its keys at construction, so a key change builds a new
    // provider; all its state lives in Redis, so requests simply move to the new one.
    const buildProvider = () => {
      const built = createProvider({
        config,
        keys: keyRing.current(),
        cookieKeys,
        adapterFor: (model) => (model === 'Client' ? clientAdapter : new RedisAdapter(model)),
        readAhead: (model, id) => RedisAdapter.readAhead(model, id),
        findAccount,
        resources,
        branding,
      });
      built.use(introspection);
      providerMetrics.attach(built);
      return built;
    };
    let provider = buildProvider();
    keyRing.onChange(() => {
      provider = buildProvider();
    });
    const currentProvider = () => provider;
    core.services.sessions.useBackchannel(createBackchannelLogout({ provider: currentProvider, change: core.services.change, audit: core.services.audit, logger, registry }));
    const feedHub = createFeedHub({ redis, keys, onError });

    const throttle = createLoginThrottle({
      redis,
      keys,
      limits: { perAccount: config.TESSERA_LOGIN_MAX_PER_ACCOUNT, perIp: config.TESSERA_LOGIN_MAX_PER_IP, windowSeconds: config.TESSERA_LOGIN_WINDOW_SECONDS },
    });
    const routers = [
      healthRoutes({ registry, health, metrics: config.TESSERA_METRICS_PORT === undefined }),
      jwtUserinfoRoutes({ config, verifyKey: keyRing.verifyKey, clients: clientDirectory, accounts: accountDirectory, revocations: core.revocations }),
      interactionRoutes({ provider: currentProvider, signIn: createSignIn({ db, audit, throttle }), branding, csrfKey: cookieKeys[0]!, logger, metrics: createSignInMetrics(registry) }),
      apiRouter({
        config,
        verifyKey: keyRing.verifyKey,
        keySet: () => keyRing.current(),
        clients: clientDirectory,
        accounts: accountDirectory,
        revocations: core.revocations,
        entitlements,
        redis,
        keys,
        services: core.services,
        feedHub,
        secret: cookieKeys[0]!,
      }),
    ];
    // The console calls the token endpoint through the very handler built below.
    const late: { handler?: RequestListener } = {};
    routers.push(
      consoleRouter({
        config,
        services: core.services,
        redis,
        keys,
        secret: cookieKeys[0]!,
        logger,
        authenticate: createTokenAuthenticator({ config, verifyKey: keyRing.verifyKey, keySet: () => keyRing.current(), clients: clientDirectory, accounts: accountDirectory, revocations: core.revocations, entitlements }),
        dispatch: () => late.handler!,
      }),
    );
    const { handler, app } = createHttpHandler({
      health,
      logger,
      provider: currentProvider,
      trustProxy: config.TESSERA_TRUST_PROXY,
      hsts: config.issuer.startsWith('https://'),
      cookieKeys,
      ownPrefixes: ['/healthz', '/readyz', '/metrics', '/interaction', '/api', '/console'],
      // The issuer's root page (console/index.tsx) and userinfo over a JWT are Tessera's own too.
      ownRequest: (req) => isRootPage(req) || isJwtUserinfo(req),
      observe: createHttpMetrics(registry),
      accessLogSample: config.TESSERA_ACCESS_LOG_SAMPLE,
      routers,
    });

    late.handler = handler;
    let server: Server | undefined;
    let metricsServer: Server | undefined;
    const closeHttp = async () => {
      metricsServer?.close();
      health.stop();
      await keyRing.close();
      // Open feed streams would otherwise keep server.close waiting forever.
      await feedHub.close();
      if (server) {
        await new Promise<void>((resolve) => {
          server!.close(() => resolve());
          server!.closeIdleConnections();
        });
      }
    };
    return {
      core,
      app,
      routers,
      get provider() {
        return provider;
      },
      keyRing,
      registry,
      entitlementStats,
      bootstrap,
      async listen(port = config.PORT, host = config.HOST) {
        server = createHttpServer(handler).listen(port, host);
        server.on('clientError', answerMalformedRequest);
        await new Promise<void>((resolve, reject) => server!.once('listening', resolve).once('error', reject)).catch((err: unknown) => {
          throw describeListenError(err, 'PORT', port, host);
        });
        if (config.TESSERA_METRICS_PORT !== undefined) {
          const metricsPort = config.TESSERA_METRICS_PORT;
          metricsServer = await listenMetrics(registry, metricsPort, host).catch((err: unknown) => {
            throw describeListenError(err, 'TESSERA_METRICS_PORT', metricsPort, host);
          });
        }
        const address = server.address();
        const actual = typeof address === 'object' && address ? address.port : port;
        return { server, url: `http://127.0.0.1:${actual}` };
      },
      closeHttp,
      async close() {
        await closeHttp();
        await core.close();
      },
    };
  } catch (err) {
    for (const close of closeOnFailure) await close().catch(() => undefined);
    await core.close();
    throw err;
  }
}

/** The private /metrics listener (TESSERA_METRICS_PORT): scraped inside the cluster, never routed publicly. */
async function listenMetrics(registry: Registry, port: number, host: string): Promise<Server> {
  const server = createHttpServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(503).end(),
    );
  }).listen(port, host);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return server;
}
