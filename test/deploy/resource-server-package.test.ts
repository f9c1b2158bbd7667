import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceToken } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

const run = promisify(execFile);
let t: TestTessera;
let project: string;

/**
 * The resource-server helper is a package of its own (packages/resource-server):
 * packed with `npm pack`, installed from the tarball into an empty project, it
 * brings jose and nothing else, and works from plain node and from tsc.
 */
beforeAll(async () => {
  t = await startTessera();
  const packs = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
  project = mkdtempSync(join(tmpdir(), 'tessera-consumer-'));
  const { stdout } = await run('npm', ['pack', './packages/resource-server', '--pack-destination', packs, '--json'], { maxBuffer: 16 * 1024 * 1024 });
  const { filename } = (JSON.parse(stdout) as { filename: string }[])[0]!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', join(packs, filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, maxBuffer: 16 * 1024 * 1024 });
  rmSync(packs, { recursive: true, force: true });
}, 180_000);
afterAll(async () => {
  await t?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('@tessera/resource-server as a package', () => {
  it('installs from its tarball with jose as its only dependency', () => {
    expect(readdirSync(join(project, 'node_modules')).filter((d) => !d.startsWith('.')).sort()).toEqual(['@tessera', 'jose']);
    expect(readdirSync(join(project, 'node_modules/@tessera/resource-server/dist'))).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']));
  });

  it('verifies a Tessera token from plain node (no tsx), with tenant pinning', async () => {
    writeFileSync(
      join(project, 'check.mjs'),
      `import { createTokenVerifier } from '@tessera/resource-server';
const v = createTokenVerifier({ issuer: process.env.ISSUER, audience: process.env.ISSUER + '/api', tenants: [process.env.TENANT] });
const ok = await v.verify(process.env.TOKEN, { scopes: ['users:view'] });
const other = createTokenVerifier({ issuer: process.env.ISSUER, audience: process.env.ISSUER + '/api', tenants: ['someone-else'] });
const refused = await other.verify(process.env.TOKEN).then(() => 'accepted', (e) => e.status);
console.log(JSON.stringify({ sub: ok.sub, tenant: ok.tenantId, refused }));
await v.close(); await other.close();
`,
    );
    const token = await serviceToken(t, t.admin.id, t.admin.secret);
    const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: project, env: { PATH: process.env.PATH!, ISSUER: t.issuer, TENANT: t.tenantId, TOKEN: token } });
    expect(JSON.parse(stdout)).toEqual({ sub: t.admin.id, tenant: t.tenantId, refused: 401 });
  });

  it('type-checks in a strict NodeNext TypeScript project', async () => {
    writeFileSync(
      join(project, 'api.ts'),
      `import { createTokenVerifier, requireScopes, TokenError, type VerifiedToken } from '@tessera/resource-server';
const verifier = createTokenVerifier({ issuer: 'https://id.example.com', audience: 'https://api.example.com', tenants: ['t1'] });
export const guard = requireScopes(verifier, 'reports:view');
export async function check(token: string): Promise<VerifiedToken | number> {
  try { return await verifier.verify(token, { scopes: ['reports:view'] }); } catch (e) { return e instanceof TokenError ? e.status : 500; }
}
`,
    );
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: [] }, include: ['api.ts'] }));
    const tsc = join(process.cwd(), 'node_modules/.bin/tsc');
    const result = await run(tsc, ['-p', 'tsconfig.json'], { cwd: project }).then(
      () => 'ok',
      (e: { stdout?: string }) => e.stdout ?? 'failed',
    );
    expect(result).toBe('ok');
  });
});
