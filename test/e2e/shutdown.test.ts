import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { spawnServe } from '../support/process.ts';

let a: TestTessera;
beforeAll(async () => {
  a = await startTessera();
});
afterAll(() => a?.close());

describe('graceful shutdown of a serve process', () => {
  it('on SIGTERM stops accepting connections, finishes the request in flight, then exits 0', async () => {
    const proc = await spawnServe();
    const port = proc.port;
    try {
      // A token request whose body is still arriving when the signal comes.
      const body = Buffer.from('grant_type=client_credentials&scope=');
      const half = 10;
      let answer: (value: { status: number; json: { access_token?: string } }) => void;
      const response = new Promise<{ status: number; json: { access_token?: string } }>((resolve) => (answer = resolve));
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/token',
          headers: {
            authorization: `Basic ${Buffer.from(`${a.admin.id}:${a.admin.secret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': body.length,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => answer({ status: res.statusCode!, json: JSON.parse(text) as { access_token?: string } }));
        },
      );
      const failed = new Promise<never>((_, reject) => req.on('error', reject));
      req.write(body.subarray(0, half));
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
      proc.child.kill('SIGTERM');

      // New connections are refused while the request in flight is still open.
      await expect(
        (async () => {
          for (let i = 0; i < 50; i++) {
            await fetch(`http://127.0.0.1:${port}/healthz`);
            await new Promise((r) => setTimeout(r, 50));
          }
        })(),
      ).rejects.toThrow();
      expect(proc.child.exitCode).toBeNull();

      req.end(body.subarray(half));
      const { status, json } = await Promise.race([response, failed]);
      expect(status).toBe(200);
      expect(json.access_token).toMatch(/^ey/);
      expect(await exited).toBe(0);
    } finally {
      await proc.stop();
    }
  }, 60_000);
});
