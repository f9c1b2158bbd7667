/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are whatever the API returns; tests assert on them */
import { ownerAccess } from './access.ts';
import type { TestTessera } from './tessera.ts';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Gets a client-credentials token for a service client (all its entitled scopes unless `scope` is given). */
export async function serviceToken(t: TestTessera, clientId: string, secret: string, scope?: string): Promise<string> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }).toString(),
  });
  const json = (await res.json()) as { access_token?: string; error?: string };
  if (!json.access_token) throw new Error(`no token: ${JSON.stringify(json)}`);
  return json.access_token;
}

/** A small admin API client over real HTTP with a bearer token. */
export function adminApi(t: TestTessera, token: string) {
  const call = async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> => {
    const res = await fetch(`${t.issuer}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  return {
    token,
    get: <T = any>(path: string) => call<T>('GET', path),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', path, body ?? {}, headers),
    put: <T = any>(path: string, body?: unknown) => call<T>('PUT', path, body),
    patch: <T = any>(path: string, body: unknown) => call<T>('PATCH', path, body),
    delete: <T = any>(path: string) => call<T>('DELETE', path),
    call,
  };
}

export type AdminApi = ReturnType<typeof adminApi>;

/** The bootstrap Owner service client's API handle. */
export async function ownerApi(t: TestTessera): Promise<AdminApi> {
  return adminApi(t, await serviceToken(t, t.admin.id, t.admin.secret));
}

/** A service client holding a custom role with exactly `capabilities`, and its API handle. */
export async function limitedApi(t: TestTessera, name: string, capabilities: string[]): Promise<{ api: AdminApi; clientId: string }> {
  const { services } = t.server.core;
  const role = await services.roles.create(ownerAccess(t.tenantId), { name: `${name} role`, capabilities });
  const svc = await services.clients.create(ownerAccess(t.tenantId), { name, type: 'service' });
  await services.roles.assign(ownerAccess(t.tenantId), role.slug, { type: 'client', id: svc.client.id });
  return { api: adminApi(t, await serviceToken(t, svc.client.id, svc.secret!)), clientId: svc.client.id };
}
