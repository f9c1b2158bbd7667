/**
 * src/healthcheck.ts, the image's HEALTHCHECK: exit 0 only on a 2xx answer
 * from /healthz (or the path given), 1 on anything else, within its timeout.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'src/healthcheck.ts');

let server: Server;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/healthz') return void res.end('{"status":"ok"}');
    if (req.url === '/readyz') return void res.writeHead(503).end('{"status":"unavailable"}');
    if (req.url === '/hang') return; // never answers
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function probe(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; ms: number; stderr: string }> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolvePromise({ code, ms: Date.now() - started, stderr }));
  });
}

describe('healthcheck script', () => {
  it('exits 0 when GET /healthz on 127.0.0.1:$PORT answers 200', async () => {
    const r = await probe({ PORT: String(port) });
    expect(r.code, r.stderr).toBe(0);
    expect(seen).toContain('/healthz');
  });

  it('exits 1 on a non-2xx answer of the path given (e.g. /readyz answering 503)', async () => {
    const r = await probe({ PORT: String(port) }, '/readyz');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('503');
  });

  it('exits 1 when nothing listens on the port', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect((await probe({ PORT: String(free) })).code).toBe(1);
  });

  it('exits 1 within its own timeout when the server does not answer', async () => {
    const r = await probe({ PORT: String(port) }, '/hang');
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(6_000);
  });

  it('probes the configured HOST when it is a specific address', async () => {
    const r = await probe({ PORT: String(port), HOST: '127.0.0.1' });
    expect(r.code, r.stderr).toBe(0);
    const wrong = await probe({ PORT: String(port), HOST: '127.0.0.2' });
    expect(wrong.code).toBe(1);
  });
});
