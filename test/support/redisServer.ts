import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './tessera.ts';

/**
 * A private redis-server on a random loopback port, for fault tests that stop,
 * restart or roll back Redis. The machine's shared Redis is never touched.
 */
export async function startRedis(extraArgs: string[] = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const launch = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'dump.rdb', ...extraArgs], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return child;
      } catch {
        probe.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('redis-server did not start');
  };
  let child = await launch();
  const command = async (...args: string[]) => {
    const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      return await c.call(args[0]!, ...args.slice(1));
    } finally {
      c.disconnect();
    }
  };
  const stop = async (save: boolean) => {
    const exited = new Promise((r) => child.once('exit', r));
    await command('SHUTDOWN', save ? 'SAVE' : 'NOSAVE').catch(() => undefined);
    await exited;
  };
  return {
    url,
    port,
    command,
    /** Stops Redis; with `save`, its data comes back on `start`. */
    stop,
    async start() {
      child = await launch();
    },
    /** Writes a snapshot and keeps a copy, for `rollback`. */
    async snapshot() {
      await command('SAVE');
      copyFileSync(join(dir, 'dump.rdb'), join(dir, 'snapshot.rdb'));
    },
    /** Simulates a failover that lost every write since `snapshot`: restart from the snapshot. */
    async rollback() {
      await stop(false);
      if (existsSync(join(dir, 'snapshot.rdb'))) copyFileSync(join(dir, 'snapshot.rdb'), join(dir, 'dump.rdb'));
      child = await launch();
    },
    async close() {
      await stop(false).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type TestRedis = Awaited<ReturnType<typeof startRedis>>;

/** Polls `fn` until it returns true or `ms` pass. */
export async function waitFor(fn: () => Promise<boolean>, ms = 10_000, step = 100): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, step));
  }
}
