import { spawn, type ChildProcess } from 'node:child_process';
import { deletePrefix, freePort, REDIS_URL } from './tessera.ts';

/**
 * Tessera as a separate OS process (`node --import tsx src/main.ts <mode>`),
 * as a second replica or a worker would run. Resolves once it says it is ready.
 */
export async function spawnTessera(env: Record<string, string>, mode = 'serve'): Promise<{ child: ChildProcess; stop(): Promise<void>; output(): string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', mode], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const ready = mode === 'worker' ? 'Tessera workers are running' : 'Tessera is listening';
  const deadline = Date.now() + 40_000;
  while (!out.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Tessera (${mode}) did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * A `serve` process on a free loopback port against the test database and
 * Redis. Its issuer is its own URL and its Redis prefix its own (deleted on
 * stop) unless `env` says otherwise, e.g. a replica of an in-process server
 * (same TESSERA_ISSUER and TESSERA_REDIS_PREFIX).
 */
export async function spawnServe(env: Record<string, string> = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const ownPrefix = env.TESSERA_REDIS_PREFIX === undefined;
  const full = {
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_ISSUER: url,
    DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!,
    REDIS_URL,
    TESSERA_REDIS_PREFIX: `proc-${port}:`,
    ...env,
  };
  const proc = await spawnTessera(full);
  return {
    ...proc,
    url,
    port,
    async stop() {
      await proc.stop();
      if (ownPrefix) await deletePrefix(full.REDIS_URL, full.TESSERA_REDIS_PREFIX);
    },
  };
}
