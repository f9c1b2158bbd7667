import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { serviceToken } from '../support/api.ts';

let t: TestTessera;
let token: string;
let operations: { method: string; path: string }[];

beforeAll(async () => {
  t = await startTessera();
  token = await serviceToken(t, t.admin.id, t.admin.secret);
  type Op = { responses?: Record<string, { content?: Record<string, unknown> }> };
  const doc = (await (await fetch(`${t.issuer}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, Op>> };
  // An event stream never ends, so its body cannot be read to the end here; revocation-feed.test.ts covers it.
  const streams = (op: Op) => Object.values(op.responses ?? {}).some((r) => r.content?.['text/event-stream']);
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => !streams(op))
      .map(([method]) => ({ method: method.toUpperCase(), path })),
  );
});
afterAll(() => t?.close());

const hostile = fc.oneof(
  fc.string(),
  fc.constantFrom("' or 1=1 --", '../../etc/passwd', '%00', '00000000-0000-4000-8000-000000000000', 'owner', 'a'.repeat(5_000), '😀', '${7*7}', '<script>'),
  fc.uuid(),
);
const json = fc.oneof(
  fc.jsonValue(),
  fc.record({ name: hostile, capabilities: fc.array(hostile, { maxLength: 5 }), users: fc.array(hostile, { maxLength: 3 }) }, { requiredKeys: [] }),
  fc.dictionary(hostile, fc.jsonValue(), { maxKeys: 5 }),
);

describe('admin API under property-based input (CHECKLIST 26)', () => {
  it('answers 2xx or a 4xx problem+json, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(hostile, { minLength: 3, maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.constantFrom('type', 'limit', 'cursor', 'query', 'status', 'role', 'strategy', 'reassign_to', 'explain'), fc.string()), hostile, { maxKeys: 3 }),
        fc.option(json),
        fc.boolean(),
        async (pick, segments, query, body, rawBody) => {
          const op = operations[pick % operations.length]!;
          let i = 0;
          const path = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(segments[i++] ?? 'x'));
          const qs = new URLSearchParams(query).toString();
          const hasBody = op.method !== 'GET' && op.method !== 'DELETE' && body !== null;
          const res = await fetch(`${t.issuer}/api/v1${path}${qs ? `?${qs}` : ''}`, {
            method: op.method,
            headers: { authorization: `Bearer ${token}`, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
            ...(hasBody ? { body: rawBody ? String(JSON.stringify(body)).slice(0, -1) : JSON.stringify(body) } : {}),
          });
          const text = await res.text();
          expect(res.status, `${op.method} ${path} -> ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toContain('application/problem+json');
            expect(JSON.parse(text).code).toEqual(expect.any(String));
          }
        },
      ),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
  }, 120_000);
});

describe('requests the HTTP parser refuses', () => {
  it('an oversized URL gets 431 problem+json, not a bare parser answer', async () => {
    const res = await fetch(`${t.issuer}/api/v1/users?query=${'a'.repeat(20_000)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('headers_too_large');
  });
});
