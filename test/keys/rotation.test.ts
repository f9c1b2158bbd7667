import { spawn } from 'node:child_process';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, startTessera, type TestTessera } from '../support/tessera.ts';
import { spawnServe } from '../support/process.ts';
import { createScratchDatabase } from '../support/database.ts';
import { promoteKey, rotationPolicy, stageKey } from '../../src/services/signingKeys.ts';

/**
 * Signing-key rotation while two processes issue tokens and resource servers
 * verify them the way jose's remote JWKS does: a cached key set, refetched
 * when stale, and refetched on an unknown kid only after a cooldown.
 */
const TTL = 30;
const PROPAGATION = 4;
const ROTATION_ENV = {
  TESSERA_ACCESS_TOKEN_TTL: String(TTL),
  TESSERA_ID_TOKEN_TTL: String(TTL),
  TESSERA_KEY_PROPAGATION_SECONDS: String(PROPAGATION),
};

let db: Awaited<ReturnType<typeof createScratchDatabase>>;
let a: TestTessera;
let b: Awaited<ReturnType<typeof spawnServe>>;
let bUrl: string;

beforeAll(async () => {
  // Signing keys are instance-wide: rotating them in the shared test database would rotate every other test file's keys.
  db = await createScratchDatabase('keys');
  a = await startTessera({ DATABASE_URL: db.url, ...ROTATION_ENV });
  b = await spawnServe({ TESSERA_ISSUER: a.issuer, DATABASE_URL: db.url, TESSERA_REDIS_PREFIX: a.server.core.config.TESSERA_REDIS_PREFIX, ...ROTATION_ENV });
  bUrl = b.url;
}, 90_000);

afterAll(async () => {
  await b?.stop();
  await a?.close();
  await db?.drop();
});

/** Runs the real CLI as an operator would, against the same database and Redis prefix. */
function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      env: {
        PATH: process.env.PATH!,
        DATABASE_URL: db.url,
        REDIS_URL,
        TESSERA_REDIS_PREFIX: a.server.core.config.TESSERA_REDIS_PREFIX,
        LOG_LEVEL: 'warn',
        ...ROTATION_ENV,
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** The published kids of the access-token keys (the RS256 ID-token key, rotated the same way, is left out unless asked for). */
async function publishedKids(base: string, algs: readonly string[] = ['ES256', 'EdDSA']): Promise<string[]> {
  const res = await fetch(`${base}/jwks`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { keys: Array<{ kid: string; alg: string; d?: string }> };
  for (const k of body.keys) expect(k.d).toBeUndefined();
  return body.keys.filter((k) => algs.includes(k.alg)).map((k) => k.kid);
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function issue(base: string): Promise<string> {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${a.admin.id}:${a.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const json = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !json.access_token) throw new Error(`token request to ${base} answered ${res.status}: ${JSON.stringify(json)}`);
  return json.access_token;
}

interface Issued {
  at: number;
  base: string;
  kid: string;
  token: string;
  exp: number;
}

/** Issues and verifies tokens continuously against both processes until stopped. */
function startLoad(verifiers: Map<string, JWTVerifyGetKey>, concurrency = 4) {
  const issued: Issued[] = [];
  const failures: string[] = [];
  let running = true;
  let n = 0;
  const loop = async () => {
    while (running) {
      const i = n++;
      const base = i % 2 ? a.issuer : bUrl;
      try {
        const token = await issue(base);
        const { payload, protectedHeader } = await jwtVerify(token, verifiers.get(base)!, { issuer: a.issuer, audience: `${a.issuer}/api`, typ: 'at+jwt' });
        issued.push({ at: Date.now(), base, kid: protectedHeader.kid!, token, exp: payload.exp! });
        // The admin API verifies Tessera's own tokens locally: on the other process, with its own key ring.
        if (i % 5 === 0) {
          const other = base === bUrl ? a.issuer : bUrl;
          const res = await fetch(`${other}/api/v1/roles`, { headers: { authorization: `Bearer ${token}` } });
          if (res.status !== 200) throw new Error(`admin API on ${other} answered ${res.status}: ${await res.text()}`);
        }
      } catch (err) {
        failures.push(`${new Date().toISOString()} ${base}: ${(err as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    issued,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A resource server's view of one process's JWKS: cached for 1.5 s, unknown kids refetched only after a 30 s cooldown. */
const resourceServer = (base: string) => createRemoteJWKSet(new URL(`${base}/jwks`), { cacheMaxAge: 1_500, cooldownDuration: 30_000 });

describe('signing-key rotation', () => {
  it('stages, promotes and retires a key under load on two processes without a single failed verification', async () => {
    const [initial] = await publishedKids(a.issuer);
    expect(await publishedKids(bUrl)).toEqual([initial]);
    const load = startLoad(
      new Map([
        [a.issuer, resourceServer(a.issuer)],
        [bUrl, resourceServer(bUrl)],
      ]),
    );
    try {
      await sleep(1_000);

      // Stage: published by both processes at once (Redis announcement), not yet signing.
      const staged = await cli('stage-key');
      expect(staged.code, staged.err).toBe(0);
      const next = (JSON.parse(staged.out) as { kid: string }).kid;
      const stagedAt = Date.now();
      // Promoting before resource servers can have fetched it is refused (checked in-process: the CLI takes seconds to start).
      await expect(promoteKey(a.server.core.db, next, rotationPolicy(a.server.core.config))).rejects.toThrow(/TESSERA_KEY_PROPAGATION_SECONDS/);
      await waitFor('both processes to publish the staged key', async () => (await publishedKids(a.issuer)).includes(next) && (await publishedKids(bUrl)).includes(next));
      expect((await publishedKids(a.issuer))[0]).toBe(initial);
      expect(load.issued.filter((t) => t.at > stagedAt && t.kid === next)).toEqual([]);

      await sleep(Math.max(0, stagedAt + PROPAGATION * 1_000 + 300 - Date.now()));
      const promoted = await cli('promote-key', '--kid', next);
      expect(promoted.code, promoted.err).toBe(0);
      expect(JSON.parse(promoted.out)).toMatchObject({ kid: next, status: 'active', retiring: [initial] });
      const promotedAt = Date.now();
      await waitFor('both processes to sign with the new key', () =>
        [a.issuer, bUrl].every((base) => load.issued.some((t) => t.base === base && t.kid === next && t.at > promotedAt)),
      );
      const switched = Date.now();

      // The old key can't leave JWKS while tokens it signed may be alive.
      const premature = await cli('retire-key', '--kid', initial!);
      expect(premature.code).toBe(1);
      expect(premature.err).toMatch(/may still be valid for \d+ s/);
      const listed = JSON.parse((await cli('list-keys')).out) as Array<{ kid: string; status: string; retirableAt?: string }>;
      const old = listed.find((k) => k.kid === initial)!;
      expect(old.status).toBe('retiring');
      expect(listed.find((k) => k.kid === next)!.status).toBe('active');
      const retirableAt = Date.parse(old.retirableAt!);
      expect(retirableAt - promotedAt).toBeGreaterThanOrEqual((TTL + PROPAGATION) * 1_000 - 5_000);

      // Keep the load going until every token the old key signed has expired.
      await sleep(Math.max(0, retirableAt + 200 - Date.now()));
      const retired = await cli('retire-key', '--kid', initial!);
      expect(retired.code, retired.err).toBe(0);
      const retiredAt = Date.now();
      await waitFor('both processes to unpublish the old key', async () => !(await publishedKids(a.issuer)).includes(initial!) && !(await publishedKids(bUrl)).includes(initial!));
      // Resource servers refresh their caches and go on verifying.
      await sleep(2_500);
      await load.stop();

      expect(load.failures).toEqual([]);
      const byKid = (kid: string) => load.issued.filter((t) => t.kid === kid);
      expect(byKid(initial!).length).toBeGreaterThan(10);
      expect(byKid(next).length).toBeGreaterThan(100);
      // Once both processes had switched, nothing was signed with the old key again...
      expect(byKid(initial!).filter((t) => t.at > switched)).toEqual([]);
      // ...and by retirement every token it ever signed had expired.
      expect(Math.max(...byKid(initial!).map((t) => t.exp)) * 1_000).toBeLessThan(retiredAt);
      expect(load.issued.filter((t) => t.at > retiredAt).length).toBeGreaterThan(10);
    } finally {
      await load.stop();
    }
  }, 120_000);

  it('force-retiring a key (compromise) stops its tokens verifying at once, in JWKS and in the admin API', async () => {
    const before = await issue(a.issuer);
    const compromised = decodeProtectedHeader(before).kid!;
    const fresh = resourceServer(a.issuer);
    await jwtVerify(before, fresh, { issuer: a.issuer, audience: `${a.issuer}/api` });
    expect((await fetch(`${bUrl}/api/v1/roles`, { headers: { authorization: `Bearer ${before}` } })).status).toBe(200);

    const staged = await cli('stage-key');
    const replacement = (JSON.parse(staged.out) as { kid: string }).kid;
    expect((await cli('promote-key', '--kid', replacement, '--force')).code).toBe(0);
    const refused = await cli('retire-key', '--kid', compromised);
    expect(refused.code).toBe(1);
    const forced = await cli('retire-key', '--kid', compromised, '--force');
    expect(forced.code, forced.err).toBe(0);
    await waitFor('the compromised key to leave both JWKS', async () => !(await publishedKids(a.issuer)).includes(compromised) && !(await publishedKids(bUrl)).includes(compromised));

    // A resource server that hasn't seen the key set yet can no longer verify the token...
    await expect(jwtVerify(before, resourceServer(a.issuer), { issuer: a.issuer, audience: `${a.issuer}/api` })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    // ...nor can either process's admin API, while new tokens work.
    for (const base of [a.issuer, bUrl]) {
      expect((await fetch(`${base}/api/v1/roles`, { headers: { authorization: `Bearer ${before}` } })).status).toBe(401);
    }
    const after = await issue(bUrl);
    expect(decodeProtectedHeader(after).kid).toBe(replacement);
    expect((await fetch(`${a.issuer}/api/v1/roles`, { headers: { authorization: `Bearer ${after}` } })).status).toBe(200);
  }, 60_000);

  it('refuses to retire the active key or promote anything but a staged key', async () => {
    const [active] = await publishedKids(a.issuer);
    const retireActive = await cli('retire-key', '--kid', active!);
    expect(retireActive.code).toBe(1);
    expect(retireActive.err).toContain('active signing key');
    const promoteActive = await cli('promote-key', '--kid', active!, '--force');
    expect(promoteActive.code).toBe(1);
    expect(promoteActive.err).toContain('only a staged key can be promoted');
    const unknown = await cli('promote-key', '--kid', 'no-such-kid');
    expect(unknown.code).toBe(1);
    expect((await cli('promote-key')).code).toBe(2);
    // A staged key never signed anything: it can be withdrawn at once.
    const staged = JSON.parse((await cli('stage-key')).out) as { kid: string };
    expect((await cli('retire-key', '--kid', staged.kid)).code).toBe(0);
    await waitFor('the withdrawn key to leave JWKS', async () => !(await publishedKids(bUrl)).includes(staged.kid));
  }, 60_000);

  it('changing TESSERA_SIGNING_ALG promotes the staged key of the new algorithm instead of signing with an unseen one', async () => {
    const [es256] = await publishedKids(a.issuer);
    const staged = await cli('stage-key', '--alg', 'EdDSA');
    expect(staged.code, staged.err).toBe(0);
    const eddsa = (JSON.parse(staged.out) as { kid: string }).kid;
    await waitFor('the EdDSA key to be published', async () => (await publishedKids(a.issuer)).includes(eddsa));
    const jwks = resourceServer(a.issuer);
    const early = await issue(a.issuer);

    // A process restarted with the new setting (same database and Redis).
    const c = await startTessera({ DATABASE_URL: db.url, TESSERA_SIGNING_ALG: 'EdDSA', TESSERA_REDIS_PREFIX: a.server.core.config.TESSERA_REDIS_PREFIX, ...ROTATION_ENV });
    try {
      const token = await issue(c.issuer);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: eddsa });
      // Resource servers had the key already; the old-setting process keeps signing with its key, still published.
      await jwtVerify(token, jwks, { algorithms: ['EdDSA'] });
      const old = await issue(a.issuer);
      expect(decodeProtectedHeader(old).kid).toBe(es256);
      await jwtVerify(old, jwks, { algorithms: ['ES256'] });
      await jwtVerify(early, jwks, { algorithms: ['ES256'] });
      const listed = JSON.parse((await cli('list-keys')).out) as Array<{ kid: string; status: string }>;
      expect(listed.find((k) => k.kid === eddsa)!.status).toBe('active');
      expect(listed.find((k) => k.kid === es256)!.status).toBe('retiring');
    } finally {
      await c.close();
    }
  }, 60_000);

  it('picks up a key change it was not told about (announcement lost) within the 10 s poll', async () => {
    // Written straight to Postgres, with no Redis announcement, as when Redis was unreachable at the time.
    const kid = await stageKey(a.server.core.db, 'ES256');
    expect(await publishedKids(a.issuer)).not.toContain(kid);
    await waitFor('the poll to publish the key', async () => (await publishedKids(a.issuer)).includes(kid) && (await publishedKids(bUrl)).includes(kid), 12_000);
  }, 30_000);
});

