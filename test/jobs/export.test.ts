import { runJob } from '../support/jobs.ts';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTenant } from '../../src/services/bootstrap.ts';
import { adminApi, limitedApi, serviceToken, type AdminApi } from '../support/api.ts';
import { seedAuditEvents } from '../support/auditSeed.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- rows and bodies are whatever the database and API return */
const q = async <T = any>(t: TestTessera, query: ReturnType<typeof sql>): Promise<T[]> => ((await t.server.core.db.execute(query)) as unknown as { rows: T[] }).rows;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function download(t: TestTessera, token: string, id: string): Promise<{ status: number; bytes: Buffer; headers: Headers; body: any }> {
  const res = await fetch(`${t.issuer}/api/v1/audit-exports/${id}/download`, { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const body = res.headers.get('content-type')?.includes('json') ? JSON.parse(bytes.toString('utf8')) : undefined;
  return { status: res.status, bytes, headers: res.headers, body };
}

/** RFC 4180 records of a CSV text. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  return records;
}

let t: TestTessera;
let owner: AdminApi;
let ownerToken: string;
let exportDir: string;

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), 'tessera-export-'));
  t = await startTessera({ TESSERA_EXPORT_DIR: exportDir });
  ownerToken = await serviceToken(t, t.admin.id, t.admin.secret);
  owner = adminApi(t, ownerToken);
  await seedAuditEvents(t.server.core.db, t.tenantId, 400);
});
afterAll(async () => {
  await t?.close();
  rmSync(exportDir, { recursive: true, force: true });
});

describe('audit export (SPEC §9)', () => {
  let other: { api: AdminApi; tenantId: string; token: string };

  beforeAll(async () => {
    const boot = await bootstrapTenant(t.server.core, { tenant: `x-${randomBytes(4).toString('hex')}`, ownerEmail: 'x@other.test', ownerPassword: 'other-password-123' });
    await seedAuditEvents(t.server.core.db, boot!.tenant.id, 50);
    const token = await serviceToken(t, boot!.client.id, boot!.client.secret);
    other = { api: adminApi(t, token), tenantId: boot!.tenant.id, token };
  });

  it('exports NDJSON: the gzip file matches its checksum and row count, and holds exactly the tenant events in seq order', async () => {
    const res = await owner.post('/audit-exports', { format: 'ndjson' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ type: 'audit_export', status: 'queued' });
    const job = await runJob(t, owner, res.body.id);
    expect(job.status).toBe('completed');
    const { result } = job;
    expect(result).toMatchObject({ export_id: res.body.id, download_url: `${t.issuer}/api/v1/audit-exports/${res.body.id}/download` });
    expect(job.progress).toEqual({ done: result.rows, total: result.rows });

    const record = await owner.get(`/audit-exports/${res.body.id}`);
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ id: res.body.id, format: 'ndjson', rows: result.rows, sha256: result.sha256, bytes: result.bytes, expired: false });

    const file = await download(t, ownerToken, res.body.id);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/gzip');
    expect(file.headers.get('content-disposition')).toContain('attachment');
    expect(file.bytes.length).toBe(result.bytes);
    expect(sha256(file.bytes)).toBe(result.sha256);
    expect(file.headers.get('x-content-sha256')).toBe(result.sha256);

    const lines = gunzipSync(file.bytes).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(result.rows);
    const events = lines.map((l) => JSON.parse(l));
    const expected = await q(t, sql`select id, seq::int as seq from audit_events where tenant_id = ${t.tenantId} and seq <= ${result.through_seq} order by seq`);
    expect(expected.length).toBeGreaterThanOrEqual(400);
    expect(events.map((e) => [e.id, e.seq])).toEqual(expected.map((e) => [e.id, e.seq]));
    expect(events.every((e) => e.tenant === t.tenantId)).toBe(true);

    // Each line is the same object GET /audit-events serves for that event.
    const page = await owner.get('/audit-events?limit=3');
    for (const item of page.body.items.filter((i: any) => i.seq <= result.through_seq)) expect(events.find((e) => e.id === item.id)).toEqual(item);
    expect(Object.keys(events[0])).toEqual(['id', 'tenant', 'at', 'actor', 'action', 'target', 'data', 'parent_id', 'request_id', 'seq', 'hash', 'prev_hash']);

    // The file was renamed into place: no partial file is left.
    expect(readdirSync(join(exportDir, t.tenantId)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('exports CSV with a header, properly quoted fields and data as JSON, applying the filter', async () => {
    const filter = { action: 'role.*', actor_id: 'u-3' };
    const res = await owner.post('/audit-exports', { format: 'csv', filter });
    expect(res.status).toBe(202);
    const job = await runJob(t, owner, res.body.id);
    expect(job.status).toBe('completed');
    const file = await download(t, ownerToken, res.body.id);
    expect(sha256(file.bytes)).toBe(job.result.sha256);
    const [header, ...records] = parseCsv(gunzipSync(file.bytes).toString('utf8'));
    expect(header).toEqual(['id', 'tenant', 'at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'data', 'parent_id', 'request_id', 'seq', 'hash', 'prev_hash']);
    const expected = await q(t, sql`select id, data from audit_events where tenant_id = ${t.tenantId} and seq <= ${job.result.through_seq}
      and starts_with(action, 'role.') and actor_id = 'u-3' order by seq`);
    expect(expected.length).toBeGreaterThan(10);
    expect(records).toHaveLength(job.result.rows);
    expect(records.map((r) => r[0])).toEqual(expected.map((e) => e.id));
    for (const [i, r] of records.entries()) {
      expect(r).toHaveLength(14);
      expect(r[1]).toBe(t.tenantId);
      expect(r[4]).toBe('u-3');
      expect(r[5]!.startsWith('role.')).toBe(true);
      expect(JSON.parse(r[8]!)).toEqual(expected[i].data);
    }
  });

  it('neutralises values a spreadsheet would run as formulas (CSV injection)', async () => {
    const { db } = t.server.core;
    const hostile = ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', `${String.fromCharCode(9)}=1`];
    await db.execute(sql`
      insert into audit_events (id, tenant_id, seq, at, actor_type, actor_id, action, target_type, target_id, data, parent_id, request_id, prev_hash, hash)
      select gen_random_uuid(), ${t.tenantId}, b.base + i, now(), 'user', 'formula-actor', 'user.updated', 'user', (array[${sql.join(
        hostile.map((v) => sql`${v}`),
        sql`, `,
      )}]::text[])[i], '{}'::jsonb, null, null, md5(i::text), md5(i::text || 'f')
      from generate_series(1, ${hostile.length}) i, (select max(seq) as base from audit_events where tenant_id = ${t.tenantId}) b`);
    const res = await owner.post('/audit-exports', { format: 'csv', filter: { actor_id: 'formula-actor' } });
    const job = await runJob(t, owner, res.body.id);
    expect(job.status).toBe('completed');
    const [, ...records] = parseCsv(gunzipSync((await download(t, ownerToken, res.body.id)).bytes).toString('utf8'));
    expect(records.map((r) => r[7])).toEqual(hostile.map((v) => `'${v}`));
    // Ordinary values are untouched.
    expect(records.every((r) => r[4] === 'formula-actor' && r[5] === 'user.updated')).toBe(true);
  });

  it('writes one audit.exported event with the filter, format, row count and checksum', async () => {
    const res = await owner.post('/audit-exports', { format: 'ndjson', filter: { target_id: 'target-2', since: '2000-01-01' } });
    const job = await runJob(t, owner, res.body.id);
    const events = await q(t, sql`select actor_type, actor_id, target_type, target_id, data from audit_events where tenant_id = ${t.tenantId} and action = 'audit.exported' and target_id = ${res.body.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor_type: 'client', actor_id: t.admin.id, target_type: 'audit_export' });
    expect(events[0].data).toMatchObject({ format: 'ndjson', rows: job.result.rows, sha256: job.result.sha256, filter: { targetId: 'target-2', since: '2000-01-01T00:00:00.000Z' } });
    expect(job.result.rows).toBe(80);
  });

  it('refuses a filter off the allow-list, and callers without audit:export', async () => {
    expect((await owner.post('/audit-exports', { format: 'ndjson', filter: { hash: 'x' } })).status).toBe(400);
    expect((await owner.post('/audit-exports', { format: 'xml' })).status).toBe(400);
    const { api: reader } = await limitedApi(t, 'Audit reader', ['audit:read']);
    const denied = await reader.post('/audit-exports', { format: 'ndjson' });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('insufficient_scope');
  });

  it("hides one tenant's exports from another: 404 for the record and the download, and its events never appear", async () => {
    const mine = await owner.post('/audit-exports', { format: 'ndjson' });
    const job = await runJob(t, owner, mine.body.id);
    expect((await other.api.get(`/audit-exports/${mine.body.id}`)).status).toBe(404);
    expect((await download(t, other.token, mine.body.id)).status).toBe(404);
    expect((await owner.get(`/audit-exports/${crypto.randomUUID()}`)).status).toBe(404);

    const theirs = await other.api.post('/audit-exports', { format: 'ndjson' });
    const theirJob = await runJob(t, other.api, theirs.body.id);
    const text = gunzipSync((await download(t, other.token, theirs.body.id)).bytes).toString('utf8');
    expect(text).not.toContain(t.tenantId);
    expect(theirJob.result.rows).toBeGreaterThanOrEqual(50);
    const mineText = gunzipSync((await download(t, ownerToken, mine.body.id)).bytes).toString('utf8');
    expect(mineText).not.toContain(other.tenantId);
    expect(job.result.rows).toBeGreaterThan(400);
  });
});

describe('audit export expiry', () => {
  let s: TestTessera;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-export-ttl-'));
    // 0.0005 h = 1.8 s: long enough to download once, short enough to wait out.
    s = await startTessera({ TESSERA_EXPORT_DIR: dir, TESSERA_EXPORT_TTL_HOURS: '0.0005' });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 410 once expired, and the sweep deletes the file and clears its path', async () => {
    const token = await serviceToken(s, s.admin.id, s.admin.secret);
    const api = adminApi(s, token);
    const res = await api.post('/audit-exports', { format: 'csv' });
    const job = await runJob(s, api, res.body.id);
    expect((await download(s, token, res.body.id)).status).toBe(200);
    const [row] = await q(s, sql`select file_path, expires_at from audit_exports where id = ${res.body.id}`);
    expect(existsSync(row.file_path)).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, new Date(job.result.expires_at).getTime() - Date.now() + 50)));

    const expired = await download(s, token, res.body.id);
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ status: 410, code: 'export_expired' });
    expect(expired.headers.get('content-type')).toContain('application/problem+json');

    expect(await s.server.core.services.auditExports.sweep()).toBeGreaterThanOrEqual(1);
    expect(existsSync(row.file_path)).toBe(false);
    const [after] = await q(s, sql`select file_path from audit_exports where id = ${res.body.id}`);
    expect(after.file_path).toBeNull();
    expect((await download(s, token, res.body.id)).status).toBe(410);
    expect((await api.get(`/audit-exports/${res.body.id}`)).body).toMatchObject({ expired: true, download_url: null });
  });
});
