import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './tessera.ts';
import { startRedis, waitFor } from './redisServer.ts';

export const SENTINEL_NAME = 'tessera-test';

/**
 * A primary, one replica and one Sentinel watching them, all private
 * redis-server processes on loopback: enough for a real, Sentinel-driven failover.
 */
export async function startSentinelSet() {
  const primary = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const sentinel = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  sentinel.on('error', () => undefined);
  const ask = (...args: string[]) => sentinel.call('SENTINEL', ...args) as Promise<unknown>;
  const primaryPort = async () => Number(((await ask('GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)) as string[])[1]);
  // Ready once the Sentinel knows the replica and the replica is in sync.
  await waitFor(async () => {
    const replicas = (await ask('REPLICAS', SENTINEL_NAME)) as string[][];
    const flags = replicas.map((r) => r[r.indexOf('flags') + 1]);
    const link = String(await replica.command('INFO', 'replication'));
    return flags.length === 1 && flags[0] === 'slave' && link.includes('master_link_status:up');
  }, 20_000);
  return {
    primary,
    replica,
    sentinels: `127.0.0.1:${port}`,
    primaryPort,
    /** Waits until the primary's writes so far have reached the replica. */
    async sync() {
      await primary.command('WAIT', '1', '2000');
    },
    /** A manual failover: the replica becomes the primary and the old primary its replica. */
    async failover() {
      const before = await primaryPort();
      await ask('FAILOVER', SENTINEL_NAME);
      await waitFor(async () => (await primaryPort()) !== before, 20_000);
      const demoted = before === primary.port ? primary : replica;
      await waitFor(async () => String(await demoted.command('INFO', 'replication')).includes('role:slave'), 20_000);
    },
    async close() {
      sentinel.disconnect();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
      await replica.close();
      await primary.close();
    },
  };
}
