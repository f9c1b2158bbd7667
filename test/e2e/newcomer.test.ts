import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('a newcomer’s install (issue 12)', () => {
  it('npm ci in a fresh clone installs from the committed lockfile, leaves git status clean, and argon2 works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-clone-'));
    dirs.push(dir);
    await run('git', ['clone', '--quiet', '--local', process.cwd(), dir]);
    await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, npm_config_loglevel: 'error' } });
    const { stdout } = await run('git', ['status', '--porcelain'], { cwd: dir });
    expect(stdout).toBe('');
    // The native password hasher (compiled at install, README "Install scripts") hashes and verifies.
    const check = await run(process.execPath, ['-e', "const a=require('argon2');a.hash('x').then(h=>a.verify(h,'x')).then(ok=>console.log(ok))"], { cwd: dir });
    expect(check.stdout.trim()).toBe('true');
  }, 300_000);
});
