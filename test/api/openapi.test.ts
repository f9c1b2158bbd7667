import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { 'x-required-capabilities': string[]; responses: Record<string, unknown> }>>;
}

/** Every (METHOD, /path) the admin API router actually serves, in OpenAPI path syntax. */
function mountedOperations(): string[] {
  const ops: string[] = [];
  for (const router of t.server.routers) {
    for (const layer of router.stack) {
      const path = String(layer.path);
      if (!path.startsWith('/api/v1/') || path.includes('{*') || path.endsWith('/openapi.json')) continue;
      for (const method of layer.methods) {
        if (method === 'HEAD') continue;
        ops.push(`${method} ${path.slice('/api/v1'.length).replace(/:([A-Za-z_]+)/g, '{$1}')}`);
      }
    }
  }
  return ops.sort();
}

describe('OpenAPI document', () => {
  it('is served unauthenticated as OpenAPI 3.1 and lists exactly the mounted routes', async () => {
    const res = await fetch(`${t.issuer}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const mounted = mountedOperations();
    expect(mounted.length).toBeGreaterThan(8);
    expect(documented).toEqual(mounted);
  });

  it('every documented operation requires authentication and names its capabilities', async () => {
    const doc = (await (await fetch(`${t.issuer}/api/v1/openapi.json`)).json()) as Doc;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Array.isArray(op['x-required-capabilities'])).toBe(true);
        const concrete = path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
        const res = await fetch(`${t.issuer}/api/v1${concrete}`, { method: method.toUpperCase() });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
      }
    }
  });
});
