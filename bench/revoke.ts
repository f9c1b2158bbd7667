/**
 * Revoke-all benchmark (acceptance: "a user with 1,000 sessions and grants is
 * revoked with one call"; p50 <= 100 ms, and 0 of the 1,000 refresh tokens
 * still work afterwards).
 *
 * Tessera runs in this process (createServer + listen on loopback) so that the
 * state can be created fast, programmatically, through the provider's own
 * models, Tessera's Redis adapter and therefore its account and grant indexes:
 * per round a fresh user with 1,000 sessions, each with its own grant and
 * refresh token. Five of the tokens are first redeemed over HTTP (proving the
 * state is real; rotation replaces them), so 1,000 live refresh tokens exist
 * when the user is revoked.
 *
 *   tessera   DELETE /api/v1/users/:id/sessions over HTTP with an Owner token,
 *             timed around the HTTP call (Postgres revocation time + audit,
 *             Redis mirror, feed, one Lua purge of the account index)
 *   baseline  oidc-provider's own way without an account index, on an
 *             identical dataset: session.destroy() for each session and
 *             adapter.revokeByGrantId(grantId) for each grant, in-process,
 *             Promise.all in chunks of 50
 *
 * Rounds alternate (tessera, baseline, baseline, tessera, ...) so drift can't
 * favour one side. After every round all 1,000 refresh tokens are tried at
 * POST /token and must each fail with invalid_grant; no refresh-token key of
 * the user may remain in Redis (the revocation time in Postgres would refuse
 * them too, so the Redis check is what proves the purge itself).
 * Results are printed and written to bench/results/revoke.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SYSTEM_ROLES } from '../src/catalogue/index.ts';
import { createLogger } from '../src/log/index.ts';
import { createServer, type Server_ } from '../src/app/index.ts';
import { systemAccess } from '../src/services/authority.ts';
import { REDIRECT_URI } from '../test/support/oidc.ts';
import { freePort } from '../test/support/tessera.ts';
import { basic, DB_NAME, deletePrefix, percentile, recreateDatabase, REDIS_URL, httpRequest, benchConfig } from './lib/harness.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const SESSIONS = Number(process.env.BENCH_REVOKE_SESSIONS ?? 1_000);
const ROUNDS = Number(process.env.BENCH_REVOKE_ROUNDS ?? 7);
const PRECHECK = 5;
const CREATE_CHUNK = 100;
const BASELINE_CHUNK = 50;
const VERIFY_CONCURRENCY = 16;
const TARGET_P50_MS = 100;

type Who = 'tessera' | 'baseline';

interface Dataset {
  userId: string;
  /** The session instances as created (the baseline destroys these). */
  sessions: InstanceType<Server_['provider']['Session']>[];
  grantIds: string[];
  /** The 1,000 refresh tokens that are live right before revocation. */
  refreshTokens: string[];
}

interface RoundResult {
  who: Who;
  round: number;
  ms: number;
  /** What the revocation reported (Tessera) or did (baseline). */
  counts: Record<string, number | string>;
  tried: number;
  stillWorking: number;
  notInvalidGrant: number;
  firstUnexpected?: string;
  refreshKeysLeft: number;
  sessionKeysLeft: number;
  grantKeysLeft: number;
  sessionsListed: number | null;
}

// ---------------------------------------------------------------- HTTP

const agent = new Agent({ keepAlive: true, maxSockets: VERIFY_CONCURRENCY });

const http = (port: number, method: string, path: string, headers: Record<string, string>, body?: string) => httpRequest(agent, port, method, path, headers, body);

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function inChunks<T, R>(items: T[], size: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const runId = randomBytes(4).toString('hex');
  const prefix = `bench-r-${runId}:`;
  const ccClientId = `bench-automation-${runId}`;
  const ccSecret = randomBytes(32).toString('base64url');
  const slug = `bench-${runId}`;
  const viewerScopes = SYSTEM_ROLES.find((r) => r.slug === 'viewer')!.capabilities.join(' ');
  const rtScope = `openid offline_access ${viewerScopes}`;

  console.log(`setting up (database ${DB_NAME}, redis prefix ${prefix}, ${SESSIONS} sessions per user, ${ROUNDS} rounds per side) ...`);
  await recreateDatabase();
  const redis = new Redis(REDIS_URL);
  const port = await freePort();
  const config = benchConfig({ port, prefix, slug, clientId: ccClientId, secret: ccSecret });
  let server: Server_ | undefined;
  try {
    server = await createServer(config, { logger: createLogger(config.LOG_LEVEL), printBootstrap: () => undefined });
    await server.listen(port, '127.0.0.1');
    const { provider, core } = server;
    const { services, keys } = core;
    const tenantId = server.bootstrap!.tenant.id;
    const resource = config.apiAudience;
    const web = await services.clients.create(systemAccess(tenantId), { name: 'Bench web app', type: 'web', firstParty: true, redirectUris: [REDIRECT_URI] });
    const webId = web.client.id;
    const webAuth = basic(webId, web.secret!);
    const found = await provider.Client.find(webId);
    if (!found) throw new Error('web client not found by the provider');
    const client = found;
    const ttl = config.TESSERA_SESSION_TTL;
    // oidc-provider's Session takes a payload and Session#save a TTL; the typings omit both.
    type SessionInstance = Dataset['sessions'][number];
    const SessionModel = provider.Session as unknown as new (payload: Record<string, unknown>) => SessionInstance & { save(ttl: number): Promise<string> };

    const ownerToken = async () => {
      const res = await http(port, 'POST', '/token', { ...FORM, authorization: basic(ccClientId, ccSecret) }, form({ grant_type: 'client_credentials' }));
      const json = JSON.parse(res.text) as { access_token?: string };
      if (!json.access_token) throw new Error(`no owner token: ${res.status} ${res.text}`);
      return json.access_token;
    };

    const refresh = (token: string) => http(port, 'POST', '/token', { ...FORM, authorization: webAuth }, form({ grant_type: 'refresh_token', refresh_token: token }));

    /** A fresh user holding the Viewer role, with `n` sessions, each with its own grant and refresh token. */
    async function createDataset(label: string, n: number): Promise<Dataset> {
      const email = `${label}-${randomBytes(4).toString('hex')}@${slug}.test`;
      const userId = (await services.users.create(systemAccess(tenantId), { email, password: `pw ${randomBytes(8).toString('hex')}` })).id;
      await services.roles.assign(systemAccess(tenantId), 'viewer', { type: 'user', id: userId });
      const now = Math.floor(Date.now() / 1000) - 5;
      const made = await inChunks(Array.from({ length: n }), CREATE_CHUNK, async () => {
        const grant = new provider.Grant({ accountId: userId, clientId: webId });
        grant.addOIDCScope('openid offline_access');
        grant.addResourceScope(resource, viewerScopes);
        const grantId = await grant.save();
        const session = new SessionModel({ accountId: userId, loginTs: now, authorizations: { [webId]: { sid: randomBytes(12).toString('base64url'), grantId } } });
        await session.save(ttl);
        const sid = (session.authorizations as Record<string, { sid: string }>)[webId]!.sid;
        const rt = new provider.RefreshToken({
          accountId: userId,
          client,
          grantId,
          scope: rtScope,
          gty: 'authorization_code',
          iiat: now,
          authTime: now,
          sessionUid: session.uid,
          sid,
          expiresWithSession: false,
          resource,
        });
        return { session, grantId, refreshToken: await rt.save() };
      });
      const ds: Dataset = { userId, sessions: made.map((m) => m.session), grantIds: made.map((m) => m.grantId), refreshTokens: made.map((m) => m.refreshToken) };
      // Prove the state is real: redeem a few over HTTP; rotation gives their replacements, which join the live set.
      for (let i = 0; i < Math.min(PRECHECK, n); i++) {
        const res = await refresh(ds.refreshTokens[i]!);
        const json = JSON.parse(res.text) as { refresh_token?: string; access_token?: string; scope?: string };
        if (res.status !== 200 || !json.refresh_token || !json.access_token) throw new Error(`pre-check refresh failed: ${res.status} ${res.text}`);
        if (!(await redis.exists(keys.oidcModel('RefreshToken', json.refresh_token)))) throw new Error('rotated refresh token is not stored where the bench looks for it');
        ds.refreshTokens[i] = json.refresh_token;
      }
      for (const t of ds.refreshTokens) if (!t) throw new Error('missing refresh token');
      return ds;
    }

    /** Tries every refresh token over HTTP and counts what is left of the user in Redis. */
    async function verify(ds: Dataset, token: string | undefined): Promise<Omit<RoundResult, 'who' | 'round' | 'ms' | 'counts'>> {
      let stillWorking = 0;
      let notInvalidGrant = 0;
      let firstUnexpected: string | undefined;
      await inChunks(ds.refreshTokens, VERIFY_CONCURRENCY, async (t) => {
        const res = await refresh(t);
        if (res.status === 200) {
          stillWorking++;
          firstUnexpected ??= `200 ${res.text.slice(0, 120)}`;
          return;
        }
        const error = (JSON.parse(res.text) as { error?: string }).error;
        if (res.status !== 400 || error !== 'invalid_grant') {
          notInvalidGrant++;
          firstUnexpected ??= `${res.status} ${res.text.slice(0, 200)}`;
        }
      });
      const count = async (ks: string[]) => {
        const pipe = redis.pipeline();
        for (const k of ks) pipe.exists(k);
        return ((await pipe.exec()) ?? []).reduce((n, [, v]) => n + Number(v), 0);
      };
      const refreshKeysLeft = await count(ds.refreshTokens.map((t) => keys.oidcModel('RefreshToken', t)));
      const sessionKeysLeft = await count(ds.sessions.map((s) => keys.oidcModel('Session', s.jti)));
      const grantKeysLeft = await count(ds.grantIds.map((g) => keys.oidcModel('Grant', g)));
      let sessionsListed: number | null = null;
      if (token) {
        const res = await http(port, 'GET', `/api/v1/users/${ds.userId}/sessions`, { authorization: `Bearer ${token}` });
        if (res.status !== 200) throw new Error(`GET sessions: ${res.status} ${res.text}`);
        sessionsListed = (JSON.parse(res.text) as { items: unknown[] }).items.length;
      }
      return { tried: ds.refreshTokens.length, stillWorking, notInvalidGrant, ...(firstUnexpected ? { firstUnexpected } : {}), refreshKeysLeft, sessionKeysLeft, grantKeysLeft, sessionsListed };
    }

    async function tesseraRound(round: number, n: number): Promise<RoundResult> {
      const ds = await createDataset('t', n);
      const token = await ownerToken();
      const before = await http(port, 'GET', `/api/v1/users/${ds.userId}/sessions`, { authorization: `Bearer ${token}` });
      const listedBefore = (JSON.parse(before.text) as { items?: unknown[] }).items?.length;
      if (listedBefore !== n) throw new Error(`expected ${n} sessions listed before revoke, got ${listedBefore}: ${before.status} ${before.text.slice(0, 200)}`);
      const t0 = performance.now();
      const res = await http(port, 'DELETE', `/api/v1/users/${ds.userId}/sessions`, { authorization: `Bearer ${token}` });
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`DELETE sessions: ${res.status} ${res.text}`);
      const counts = JSON.parse(res.text) as Record<string, number | string>;
      return { who: 'tessera', round, ms, counts, ...(await verify(ds, token)) };
    }

    async function baselineRound(round: number, n: number): Promise<RoundResult> {
      const ds = await createDataset('b', n);
      const grantAdapter = provider.Grant.adapter as { revokeByGrantId(id: string): Promise<void> };
      const t0 = performance.now();
      await inChunks(ds.sessions, BASELINE_CHUNK, async (session, i) => {
        await Promise.all([session.destroy(), grantAdapter.revokeByGrantId(ds.grantIds[i]!)]);
      });
      const ms = performance.now() - t0;
      return { who: 'baseline', round, ms, counts: { sessions: ds.sessions.length, grants: ds.grantIds.length }, ...(await verify(ds, await ownerToken())) };
    }

    // Warm-up (not counted): both paths once on a small user, so script loading and JIT don't land in round 1.
    await tesseraRound(0, 20);
    await baselineRound(0, 20);

    const results: RoundResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Who[] = round % 2 === 1 ? ['tessera', 'baseline'] : ['baseline', 'tessera'];
      for (const who of order) {
        const r = who === 'tessera' ? await tesseraRound(round, SESSIONS) : await baselineRound(round, SESSIONS);
        results.push(r);
        const c = r.counts;
        console.log(
          `  round ${round} ${who.padEnd(8)} ${r.ms.toFixed(1).padStart(8)} ms  ` +
            (who === 'tessera' ? `purged sessions=${c.sessions} grants=${c.grants} refresh_tokens=${c.refresh_tokens}  ` : `destroyed sessions=${c.sessions} grants=${c.grants}  `) +
            `still working ${r.stillWorking}/${r.tried}, non-invalid_grant ${r.notInvalidGrant}, keys left rt=${r.refreshKeysLeft} session=${r.sessionKeysLeft} grant=${r.grantKeysLeft}, listed ${r.sessionsListed}` +
            (r.firstUnexpected ? `  first unexpected: ${r.firstUnexpected}` : ''),
        );
      }
    }

    const stats = (who: Who) => {
      const rs = results.filter((r) => r.who === who);
      const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
      return {
        rounds: rs.length,
        p50: percentile(ms, 50),
        p95: percentile(ms, 95),
        max: ms[ms.length - 1]!,
        min: ms[0]!,
        stillWorking: rs.reduce((n, r) => n + r.stillWorking, 0),
        tried: rs.reduce((n, r) => n + r.tried, 0),
        notInvalidGrant: rs.reduce((n, r) => n + r.notInvalidGrant, 0),
        keysLeft: rs.reduce((n, r) => n + r.refreshKeysLeft + r.sessionKeysLeft + r.grantKeysLeft, 0),
        maxStillWorkingPerRound: Math.max(...rs.map((r) => r.stillWorking)),
      };
    };
    const t = stats('tessera');
    const b = stats('baseline');
    const tesseraListedEmpty = results.filter((r) => r.who === 'tessera').every((r) => r.sessionsListed === 0);
    // What the API said it removed: every session and grant, and every refresh token (the live ones plus the pre-check's rotated-away ones).
    const countsOk = results
      .filter((r) => r.who === 'tessera')
      .every((r) => r.counts.sessions === SESSIONS && r.counts.grants === SESSIONS && Number(r.counts.refresh_tokens) === SESSIONS + PRECHECK);
    const latencyPass = t.p50 <= TARGET_P50_MS;
    const tokensPass = t.stillWorking === 0 && t.notInvalidGrant === 0 && t.keysLeft === 0 && tesseraListedEmpty;

    const f = (x: number) => x.toFixed(1);
    console.log('');
    console.log(`${SESSIONS} sessions, ${SESSIONS} grants, ${SESSIONS} live refresh tokens per user; ${ROUNDS} rounds per side, fresh user each; latencies in ms`);
    console.log(`${'method'.padEnd(52)}${'p50'.padStart(8)}${'p95'.padStart(8)}${'max'.padStart(8)}${'min'.padStart(8)}   still working`);
    console.log(
      `${'tessera   DELETE /api/v1/users/:id/sessions (HTTP)'.padEnd(52)}${f(t.p50).padStart(8)}${f(t.p95).padStart(8)}${f(t.max).padStart(8)}${f(t.min).padStart(8)}   ${t.stillWorking} of ${t.tried}`,
    );
    console.log(
      `${`baseline  destroy + revokeByGrantId x${SESSIONS} (in-proc)`.padEnd(52)}${f(b.p50).padStart(8)}${f(b.p95).padStart(8)}${f(b.max).padStart(8)}${f(b.min).padStart(8)}   ${b.stillWorking} of ${b.tried}`,
    );
    console.log(`ratio tessera/baseline p50: ${(t.p50 / b.p50).toFixed(2)}`);
    console.log('');
    console.log(`p50 <= ${TARGET_P50_MS} ms: ${f(t.p50)} ms ${latencyPass ? 'PASS' : 'FAIL'}`);
    console.log(
      `refresh tokens still working after revoke: ${t.maxStillWorkingPerRound} of ${SESSIONS} (every round; all failures invalid_grant: ${t.notInvalidGrant === 0}, ` +
        `session/grant/refresh keys left in Redis: ${t.keysLeft}, sessions listed after: ${tesseraListedEmpty ? 0 : 'NOT EMPTY'}) ${tokensPass ? 'PASS' : 'FAIL'}`,
    );

    console.log(`counts reported by the API (sessions=grants=${SESSIONS}, refresh_tokens=${SESSIONS + PRECHECK}) in every round: ${countsOk ? 'yes' : 'NO'}`);

    const out = join(HERE, 'results', 'revoke.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          sessionsPerUser: SESSIONS,
          rounds: ROUNDS,
          baselineChunk: BASELINE_CHUNK,
          target: { p50Ms: TARGET_P50_MS, stillWorking: 0 },
          tessera: t,
          baseline: b,
          ratioP50: t.p50 / b.p50,
          pass: { latency: latencyPass, tokens: tokensPass, countsAsExpected: countsOk },
          rounds_detail: results,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nwritten ${out}`);
    if (!latencyPass || !tokensPass) process.exitCode = 1;
  } finally {
    agent.destroy();
    await server?.close().catch(() => undefined);
    await deletePrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
