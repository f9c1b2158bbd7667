/**
 * Child process for bench/token.ts: a real Tessera (createServer) on loopback
 * against real Postgres and Redis, with a bootstrapped tenant, a first-party
 * web client and a user holding the Viewer role. Prints one `READY {json}`
 * line with the credentials the load generator needs, then serves until killed.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import { createServer } from '../src/app/index.ts';
import { systemAccess } from '../src/services/authority.ts';
import { seedEntitlements } from './lib/seedEntitlements.ts';

const env = process.env;
const port = Number(env.BENCH_PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = env.BENCH_REDIRECT_URI!;
const slug = `bench-${randomBytes(4).toString('hex')}`;
const config = loadConfig({
  NODE_ENV: 'production',
  PORT: String(port),
  HOST: '127.0.0.1',
  TESSERA_ISSUER: issuer,
  DATABASE_URL: env.BENCH_DATABASE_URL!,
  REDIS_URL: env.BENCH_REDIS_URL!,
  TESSERA_REDIS_PREFIX: env.BENCH_REDIS_PREFIX!,
  LOG_LEVEL: env.BENCH_LOG_LEVEL ?? 'warn',
  TESSERA_SIGNING_ALG: 'ES256',
  // The bench signs in the same user once per load worker; keep the login throttle out of the way.
  TESSERA_LOGIN_MAX_PER_ACCOUNT: '10000',
  TESSERA_LOGIN_MAX_PER_IP: '10000',
  TESSERA_BOOTSTRAP_TENANT: slug,
  TESSERA_BOOTSTRAP_OWNER_EMAIL: `owner@${slug}.test`,
  TESSERA_BOOTSTRAP_OWNER_PASSWORD: `pw-${randomBytes(12).toString('hex')}`,
  TESSERA_BOOTSTRAP_CLIENT_ID: env.BENCH_CC_CLIENT_ID!,
  TESSERA_BOOTSTRAP_CLIENT_SECRET: env.BENCH_CC_CLIENT_SECRET!,
});

const server = await createServer(config, { logger: createLogger(config.LOG_LEVEL), printBootstrap: () => undefined });
const boot = server.bootstrap!;
const tenantId = boot.tenant.id;
const { services } = server.core;
const web = await services.clients.create(systemAccess(tenantId), { name: 'Bench console', type: 'web', firstParty: true, redirectUris: [redirectUri] });
const user = { email: `bench@${slug}.test`, password: `bench password ${randomBytes(6).toString('hex')}` };
const userId = (await services.users.create(systemAccess(tenantId), user)).id;
let deepUser: { id: string; email: string; password: string } | undefined;
if (env.BENCH_SCENARIO === 'entitlements') {
  // bench/entitlements.ts: `user` is the flat one (one direct role); `deepUser` reaches 100 groups.
  deepUser = { email: `deep@${slug}.test`, password: user.password, id: '' };
  deepUser.id = (await services.users.create(systemAccess(tenantId), deepUser)).id;
  await seedEntitlements(server.core, tenantId, { deep: deepUser.id, flat: userId });
} else {
  await services.roles.assign(systemAccess(tenantId), 'viewer', { type: 'user', id: userId });
}
await server.listen(port, '127.0.0.1');

process.stdout.write(
  `READY ${JSON.stringify({ issuer, tenantId, admin: boot.client, web: { id: web.client.id, secret: web.secret }, user: { ...user, id: userId }, deepUser })}\n`,
);

const stop = () => {
  server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
