import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { createServer, type Server_ } from '../../src/app/index.ts';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Removes every key a test server wrote, so runs leave nothing behind in the shared Redis. */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // The test's own Redis may already be gone (fault tests stop it); nothing to clean then.
  } finally {
    redis.disconnect();
  }
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TestTessera {
  server: Server_;
  issuer: string;
  tenantId: string;
  tenantSlug: string;
  owner: { id: string; email: string; password: string };
  admin: { id: string; secret: string };
  close(): Promise<void>;
}

/**
 * Starts a real Tessera on a random loopback port against the test database
 * and the real Redis, with its own Redis prefix and a freshly bootstrapped tenant.
 */
export async function startTessera(env: Record<string, string> = {}): Promise<TestTessera> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const slug = `t-${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_ISSUER: issuer,
    DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!,
    REDIS_URL,
    TESSERA_REDIS_PREFIX: `tt-${randomBytes(4).toString('hex')}:`,
    LOG_LEVEL: process.env.TESSERA_TEST_LOG_LEVEL ?? 'silent',
    TESSERA_BOOTSTRAP_TENANT: slug,
    TESSERA_BOOTSTRAP_OWNER_EMAIL: `owner@${slug}.test`,
    TESSERA_BOOTSTRAP_OWNER_PASSWORD: password,
    TESSERA_BOOTSTRAP_CLIENT_SECRET: secret,
    ...env,
  });
  const server = await createServer(config, { logger: createLogger(config.LOG_LEVEL), printBootstrap: () => undefined });
  await server.listen(port, '127.0.0.1');
  const boot = server.bootstrap!;
  return {
    server,
    issuer,
    tenantId: boot.tenant.id,
    tenantSlug: slug,
    owner: boot.owner,
    admin: boot.client,
    async close() {
      await server.close();
      await deletePrefix(config.REDIS_URL, config.TESSERA_REDIS_PREFIX);
    },
  };
}
