import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTessera } from '../support/process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPath } from '../../src/services/auditExports/run.ts';
import { ownerApi, serviceToken, type AdminApi } from '../support/api.ts';
import { seedAuditEvents } from '../support/auditSeed.ts';
import { REDIS_URL, startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let api: AdminApi;
let dir: string;
const workers = new Set<ChildProcess>();

/** `src/main.ts worker` as its own OS process, sharing the test server's database, Redis prefix and export folder. */
async function spawnWorker(): Promise<ChildProcess> {
  const { child } = await spawnTessera(
    {
      DATABASE_URL: process.env.TESSERA_TEST_DATABASE_URL!,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: t.server.core.config.TESSERA_REDIS_PREFIX,
      TESSERA_ISSUER: t.issuer,
      TESSERA_EXPORT_DIR: dir,
      // A killed worker's job is retried once its lock lapses; 3 s keeps the test short.
      TESSERA_JOB_LOCK_MS: '3000',
    },
    'worker',
  );
  workers.add(child);
  return child;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const finished = (id: string) => async () => {
  const job = await api.get(`/jobs/${id}`);
  return job.body.status === 'completed' || job.body.status === 'failed' ? job.body : undefined;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-export-crash-'));
  t = await startTessera({ TESSERA_EXPORT_DIR: dir });
  api = await ownerApi(t);
  await seedAuditEvents(t.server.core.db, t.tenantId, 300_000);
}, 60_000);
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('audit export survives a killed worker (SPEC §9)', () => {
  it('a worker SIGKILLed mid-export leaves, after the retry, the same file as a clean run, even with events appended meanwhile', async () => {
    // actor_type=user leaves out the audit.exported events the exports themselves append.
    const filter = { actor_type: 'user' };
    const first = await spawnWorker();
    const clean = await api.post('/audit-exports', { format: 'ndjson', filter });
    const cleanJob = await waitFor('the clean export', finished(clean.body.id), 40_000, 100);
    expect(cleanJob.status).toBe('completed');
    expect(cleanJob.result.rows).toBeGreaterThanOrEqual(300_000);

    const crashed = await api.post('/audit-exports', { format: 'ndjson', filter });
    const partial = `${exportPath(dir, t.tenantId, crashed.body.id, 'ndjson')}.partial`;
    // Kill once the file exists and has grown, i.e. mid-stream.
    await waitFor('the partial file to grow', () => (existsSync(partial) && statSync(partial).size > 64 * 1024 ? true : undefined), 20_000, 5);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const mid = await api.get(`/jobs/${crashed.body.id}`);
    expect(mid.body.status).toBe('running');
    expect(existsSync(exportPath(dir, t.tenantId, crashed.body.id, 'ndjson'))).toBe(false);

    // Events appended after the first attempt must not reach the retried export.
    await seedAuditEvents(t.server.core.db, t.tenantId, 1_000);
    await spawnWorker();
    const retried = await waitFor('the retried export', finished(crashed.body.id), 40_000, 100);
    expect(retried.status).toBe('completed');
    expect(retried.result.rows).toBe(cleanJob.result.rows);
    expect(retried.result.sha256).toBe(cleanJob.result.sha256);
    expect(retried.result.bytes).toBe(cleanJob.result.bytes);
    expect(existsSync(partial)).toBe(false);

    const res = await fetch(retried.result.download_url, { headers: { authorization: `Bearer ${await serviceToken(t, t.admin.id, t.admin.secret)}` } });
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(cleanJob.result.sha256);
    const exported = await api.get(`/audit-events?action=audit.exported&target_id=${crashed.body.id}`);
    expect(exported.body.items).toHaveLength(1);
  }, 120_000);
});
