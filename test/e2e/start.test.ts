import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_URL } from '../support/tessera.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs `src/main.ts` as `npm start` does, with a clean environment plus `env`. */
function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = async (text: string, ms = 40_000) => {
    const deadline = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never printed "${text}". stdout: ${out}\nstderr: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, exited, until, output: () => out, errors: () => err };
}

describe('npm start on a fresh checkout (no DATABASE_URL)', () => {
  it('migrates embedded PGlite, bootstraps, prints credentials once, serves discovery and tokens, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-start-'));
    dirs.push(dir);
    const port = await freePort();
    const env = { PORT: String(port), TESSERA_DATA_DIR: dir, REDIS_URL, TESSERA_REDIS_PREFIX: `te-${randomBytes(4).toString('hex')}:` };
    const first = start(env);
    await first.until('Tessera is listening');
    const out = first.output();
    expect(out).toContain(`Issuer:          http://localhost:${port}`);
    const secret = /Client secret:\s+(\S+)/.exec(out)![1]!;
    const clientId = /Admin client id:\s+(\S+)/.exec(out)![1]!;

    const discovery = (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).then((r) => r.json())) as { issuer: string };
    expect(discovery.issuer).toBe(`http://localhost:${port}`);
    const token = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status, `${await token.clone().text()}\n${first.errors()}`).toBe(200);
    expect(((await token.json()) as { scope: string }).scope).toContain('tenant:transfer_ownership');

    first.child.kill('SIGTERM');
    expect(await first.exited, first.errors()).toBe(0);

    // A second start on the same data does not bootstrap again, so credentials are never printed twice.
    const second = start(env);
    await second.until('Tessera is listening');
    expect(second.output()).not.toContain('Client secret:');
    // …but says how to recover them.
    expect(second.output()).toContain('rotate-client-secret --tenant default --client default-admin-automation');
    second.child.kill('SIGTERM');
    expect(await second.exited, second.errors()).toBe(0);
  }, 90_000);

  it('does not echo bootstrap credentials that were supplied through the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-supplied-'));
    dirs.push(dir);
    const port = await freePort();
    const password = `supplied-owner-${randomBytes(6).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    const run = start({
      PORT: String(port),
      TESSERA_DATA_DIR: dir,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: `ts-${randomBytes(4).toString('hex')}:`,
      TESSERA_BOOTSTRAP_OWNER_PASSWORD: password,
      TESSERA_BOOTSTRAP_CLIENT_SECRET: secret,
    });
    await run.until('Tessera is listening');
    const out = run.output() + run.errors();
    expect(out).toContain('(from TESSERA_BOOTSTRAP_OWNER_PASSWORD)');
    expect(out).toContain('(from TESSERA_BOOTSTRAP_CLIENT_SECRET)');
    expect(out).not.toContain(password);
    expect(out).not.toContain(secret);
    // The supplied secret is the one that works.
    const token = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`default-admin-automation:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  }, 90_000);

  it('stops with a message naming a bad variable', async () => {
    const run = start({ PORT: 'eighty', TESSERA_SIGNING_ALG: 'HS256' });
    expect(await run.exited).toBe(1);
    expect(run.errors()).toContain('PORT');
    expect(run.errors()).toContain('TESSERA_SIGNING_ALG');
  });

  it('exits with a one-paragraph hint when Redis is unreachable', async () => {
    const dead = await freePort();
    const run = start({ REDIS_URL: `redis://127.0.0.1:${dead}`, TESSERA_DATA_DIR: mkdtempSync(join(tmpdir(), 'tessera-noredis-')) });
    expect(await run.exited).toBe(1);
    expect(run.errors()).toMatch(/could not reach Redis at 127\.0\.0\.1:\d+ \(REDIS_URL\)/);
    expect(run.errors()).toContain('redis-server');
  });
});

/** Runs the CLI as `npm run cli` does, with a clean environment plus `env`. */
function cli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('one owner of the embedded database (SPEC §1, CHECKLIST fault 9)', () => {
  it('a second start and a CLI write on a data directory a running Tessera holds are refused with a message; nothing is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-owner-'));
    dirs.push(dir);
    const env = { PORT: String(await freePort()), TESSERA_DATA_DIR: dir, REDIS_URL, TESSERA_REDIS_PREFIX: `to-${randomBytes(4).toString('hex')}:` };
    const first = start(env);
    await first.until('Tessera is listening');
    try {
      const second = start({ ...env, PORT: String(await freePort()) });
      expect(await second.exited).toBe(1);
      expect(second.errors()).toContain(`in use by another Tessera process (pid ${first.child.pid}`);
      expect(second.errors()).toContain('DATABASE_URL');
      expect(second.errors()).not.toMatch(/\n\s+at /);
      const write = await cli(['create-user', '--tenant', 'default', '--email', 'late@example.test'], env);
      expect(write.code).not.toBe(0);
      expect(write.err).toContain('in use by another Tessera process');
      expect(write.out).not.toMatch(/"id"/);
      // Recovering the admin client's secret goes through the running server, and the new secret works at once.
      const rotated = await cli(['rotate-client-secret', '--tenant', 'default', '--client', 'default-admin-automation'], env);
      expect(rotated.code, rotated.err).toBe(0);
      const secret = /client_secret: (\S+)/.exec(rotated.out)![1]!;
      const token = await fetch(`http://127.0.0.1:${env.PORT}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`default-admin-automation:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(token.status).toBe(200);
    } finally {
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
    }
    // With the server stopped the CLI owns the directory, and its write is there on the next start.
    const write = await cli(['create-user', '--tenant', 'default', '--email', 'after@example.test'], env);
    expect(write.code, write.err).toBe(0);
    const again = await cli(['create-user', '--tenant', 'default', '--email', 'after@example.test'], env);
    expect(again.err).toMatch(/email_taken|already exists/);
  }, 120_000);
});

describe('start-up errors are one paragraph naming the variable and the fix (SPEC §1)', () => {
  const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

  it('an unreachable DATABASE_URL', async () => {
    const run = start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/tessera`, REDIS_URL });
    expect(await run.exited).toBe(1);
    expect(run.errors()).toMatch(/could not reach PostgreSQL at 127\.0\.0\.1:\d+ \(DATABASE_URL\)/);
    noStack(run.errors());
  });

  it('a database that does not exist', async () => {
    const name = `missing_${randomBytes(4).toString('hex')}`;
    const run = start({ DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`, REDIS_URL });
    expect(await run.exited).toBe(1);
    expect(run.errors()).toContain(`The database "${name}" does not exist`);
    expect(run.errors()).toContain('createdb');
    noStack(run.errors());
  });

  it('a port in use', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = start({ PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!, REDIS_URL, TESSERA_REDIS_PREFIX: `tp-${randomBytes(4).toString('hex')}:` });
      expect(await run.exited).toBe(1);
      expect(run.errors()).toContain(`Port ${port} on 127.0.0.1 (PORT) is already in use`);
      noStack(run.errors());
    } finally {
      blocker.close();
    }
  }, 60_000);
});

describe('CLI', () => {
  it('verify-audit-chain passes on an intact chain and fails (exit 3) after tampering', async () => {
    const { startTessera } = await import('../support/tessera.ts');
    const { sql } = await import('drizzle-orm');
    const t = await startTessera();
    try {
      const run = (args: string[]) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
            env: { PATH: process.env.PATH!, DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!, REDIS_URL, LOG_LEVEL: 'warn' },
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', (code) => resolve({ code, out }));
        });
      const ok = await run(['verify-audit-chain', '--tenant', t.tenantSlug]);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.out)).toEqual({ ok: true, events: 5, unchained: 0 });
      await t.server.core.db.execute(sql`update audit_events set action = 'role.unassigned' where tenant_id = ${t.tenantId} and seq = 3`);
      const bad = await run(['verify-audit-chain', '--tenant', t.tenantSlug]);
      expect(bad.code).toBe(3);
      expect(JSON.parse(bad.out)).toMatchObject({ ok: false, brokenAtSeq: 3 });
    } finally {
      await t.close();
    }
  }, 60_000);
});
