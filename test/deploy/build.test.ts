/**
 * The container image runs the compiled build (`npm run build` → dist/, then
 * `node dist/main.js serve`), not tsx. This builds it as the Dockerfile does and
 * runs the result: migrations found, tokens issued, health probe answering.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_URL, startTessera, type TestTessera } from '../support/tessera.ts';

const run = promisify(execFile);
let a: TestTessera;

beforeAll(async () => {
  a = await startTessera();
  await run('npm', ['run', 'build'], { timeout: 180_000 });
}, 200_000);
afterAll(() => a?.close());

describe('npm run build', () => {
  it('emits dist/ that serves tokens with node alone, and a health probe that passes', async () => {
    expect(existsSync('dist/main.js')).toBe(true);
    expect(existsSync('dist/cli.js')).toBe(true);
    expect(existsSync('dist/healthcheck.js')).toBe(true);
    // The console's stylesheet and script are files, not modules: the build copies them.
    expect(existsSync('dist/console/assets/console.js')).toBe(true);
    expect(existsSync('dist/console/assets/console.css')).toBe(true);
    const port = await freePort();
    const env = {
      PATH: process.env.PATH!,
      PORT: String(port),
      HOST: '127.0.0.1',
      TESSERA_ISSUER: `http://127.0.0.1:${port}`,
      DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: `dist-${port}:`,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    };
    // No tsx loader: plain node on the emitted JavaScript.
    const child = spawn(process.execPath, ['dist/main.js', 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const deadline = Date.now() + 40_000;
      while (!out.includes('Tessera is listening')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`dist/main.js did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const token = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${a.admin.id}:${a.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(token.status, await token.clone().text()).toBe(200);
      const consoleScript = await fetch(`http://127.0.0.1:${port}/console/assets/console.js`);
      expect(consoleScript.status).toBe(200);
      const probe = await run(process.execPath, ['dist/healthcheck.js', '/readyz'], { env });
      expect(probe.stderr).toBe('');
      const help = await run(process.execPath, ['dist/cli.js', 'list-keys'], { env });
      expect(JSON.parse(help.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ status: 'active' })]));
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    expect(child.exitCode).toBe(0);
  }, 90_000);
});
