/**
 * Freshness under concurrency (SPEC §6, issue 14): two `serve` processes on
 * one Postgres and one Redis, tokens requested from both without pause while
 * admin changes go through both. No token may carry a capability that a
 * change had already taken away (committed and acknowledged) before the token
 * request was sent; and once the capability is given back, tokens requested
 * after that acknowledgement carry it again.
 *
 * Ordering comes from one clock in this process: "acknowledged before sent"
 * is a fact about events here, not a margin. The test waits for a number of
 * token answers in each window, never for a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { spawnServe } from '../support/process.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

type Proc = Awaited<ReturnType<typeof spawnServe>>;
const TOGGLES = 12;
/** Token answers to see inside every window before the next change. */
const PER_WINDOW = 4;
const CAPABILITY = 'reports:view';

let a: TestTessera;
let b: Proc;
let c: Proc;
let owner: AdminApi;

beforeAll(async () => {
  a = await startTessera();
  const shared = { TESSERA_ISSUER: a.issuer, TESSERA_REDIS_PREFIX: a.server.core.config.TESSERA_REDIS_PREFIX, LOG_LEVEL: 'warn' };
  [b, c] = await Promise.all([spawnServe(shared), spawnServe(shared)]);
  owner = await ownerApi(a);
}, 90_000);
afterAll(async () => {
  await Promise.all([b?.stop(), c?.stop()]);
  await a?.close();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(base: string, client: { id: string; secret: string }, scope?: string): Promise<{ scopes: Set<string> }> {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: basic(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }).toString(),
  });
  const json = (await res.json()) as { access_token?: string; scope?: string };
  if (res.status !== 200 || !json.access_token) throw new Error(`token from ${base}: ${res.status} ${JSON.stringify(json)}`);
  const payload = JSON.parse(Buffer.from(json.access_token.split('.')[1]!, 'base64url').toString()) as { scope?: string };
  return { scopes: new Set((payload.scope ?? '').split(' ').filter(Boolean)) };
}

/** The admin API of one process, with a token that process issued. */
async function adminOn(base: string) {
  const res = await fetch(`${base}/token`, { method: 'POST', headers: { authorization: basic(a.admin.id, a.admin.secret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  const { access_token } = (await res.json()) as { access_token: string };
  return async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path} on ${base}: ${r.status} ${await r.text()}`);
  };
}

describe('freshness with two serve processes and concurrent changes (SPEC §6)', () => {
  it('no token carries a capability removed by a change acknowledged before the request; a re-grant shows in the next one', async () => {
    await owner.post('/roles', { name: 'Fresh reports', capabilities: [CAPABILITY] });
    const svcRes = await owner.post('/applications', { name: 'Fresh service', type: 'service' });
    const svc = { id: svcRes.body.id as string, secret: svcRes.body.client_secret as string };
    // A second client whose token exercises the same tenant cache between changes (unrelated subject).
    const other = await owner.post('/applications', { name: 'Bystander', type: 'service' });
    await owner.put(`/applications/${other.body.id}/roles/viewer`, {});
    await owner.put(`/applications/${svc.id}/roles/fresh-reports`, {});
    const admins = [await adminOn(b.url), await adminOn(c.url)];

    interface Sample {
      sentAt: number;
      has: boolean;
    }
    const samples: Sample[] = [];
    /** Changes as this process saw them: [sentAt, acknowledgedAt, grants]. */
    const changes: Array<{ sentAt: number; ackAt: number; grants: boolean }> = [{ sentAt: 0, ackAt: performance.now(), grants: true }];
    let stop = false;
    let answered = 0;
    const loop = async (base: string) => {
      while (!stop) {
        const sentAt = performance.now();
        const { scopes } = await token(base, svc, CAPABILITY);
        samples.push({ sentAt, has: scopes.has(CAPABILITY) });
        answered++;
        // The bystander's token in between: another subject's issuance on the same tenant version.
        await token(base, { id: other.body.id, secret: other.body.client_secret });
      }
    };
    const loops = [loop(b.url), loop(b.url), loop(c.url), loop(c.url)];
    // Requests already in flight when a change is acknowledged aren't judged against it: wait past them.
    const waitForAnswers = async (n: number) => {
      const target = answered + n + loops.length;
      while (answered < target) await new Promise((r) => setTimeout(r, 5));
    };

    for (let i = 0; i < TOGGLES; i++) {
      const api = admins[i % 2]!;
      await waitForAnswers(PER_WINDOW);
      const grants = i % 2 === 1;
      const sentAt = performance.now();
      if (grants) await api('PUT', `/applications/${svc.id}/roles/fresh-reports`, {});
      else await api('DELETE', `/applications/${svc.id}/roles/fresh-reports`);
      changes.push({ sentAt, ackAt: performance.now(), grants });
    }
    await waitForAnswers(PER_WINDOW);
    stop = true;
    await Promise.all(loops);

    // Judge each token by the state every change acknowledged before its request settles.
    const judged = { without: 0, with: 0 };
    const violations: string[] = [];
    for (const s of samples) {
      const settled = changes.filter((ch) => ch.ackAt < s.sentAt).pop()!;
      const next = changes.find((ch) => ch.sentAt > settled.sentAt);
      // A change sent but not yet acknowledged when the request went out may or may not have committed: not judged.
      if (next && next.sentAt < s.sentAt) continue;
      if (settled.grants) {
        judged.with++;
        if (!s.has) violations.push(`a token requested after a grant was acknowledged lacks ${CAPABILITY}`);
      } else {
        judged.without++;
        if (s.has) violations.push(`a token requested after a removal was acknowledged carries ${CAPABILITY}`);
      }
    }
    expect(violations).toEqual([]);
    // The windows were exercised: every change was followed by several judged tokens.
    expect(judged.without).toBeGreaterThanOrEqual((TOGGLES / 2) * PER_WINDOW);
    expect(judged.with).toBeGreaterThanOrEqual((TOGGLES / 2) * PER_WINDOW);
  }, 120_000);
});
