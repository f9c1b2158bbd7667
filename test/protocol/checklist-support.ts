import * as client from 'openid-client';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { Browser, parseForm } from '../support/browser.ts';
import { REDIRECT_URI } from '../support/oidc.ts';

/** A second registered redirect URI of the web client, to mismatch against. */
export const OTHER_REDIRECT_URI = 'http://127.0.0.1:9/other';
export const POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';

export interface Creds {
  id: string;
  secret?: string;
}

export interface Checklist {
  t: TestTessera;
  /** Confidential first-party web client with two redirect URIs. */
  web: Creds;
  /** A second confidential web client sharing REDIRECT_URI. */
  other: Creds;
  /** Public first-party SPA client. */
  spa: Creds;
  user: { id: string; email: string; password: string };
}

/** Boots a Tessera with the clients and the user every checklist file needs. */
export async function setupChecklist(): Promise<Checklist> {
  const t = await startTessera();
  const { clients, users } = t.server.core.services;
  const mk = async (name: string, type: 'web' | 'spa', redirectUris: string[]) => {
    const c = await clients.create(ownerAccess(t.tenantId), { name, type, firstParty: true, redirectUris, postLogoutRedirectUris: [POST_LOGOUT_URI] });
    return { id: c.client.id, ...(c.secret ? { secret: c.secret } : {}) };
  };
  const web = await mk('Web', 'web', [REDIRECT_URI, OTHER_REDIRECT_URI]);
  const other = await mk('Other', 'web', [REDIRECT_URI]);
  const spa = await mk('Spa', 'spa', [REDIRECT_URI]);
  const email = 'checklist@example.test';
  const password = 'checklist password 123';
  const id = (await users.create(ownerAccess(t.tenantId), { email, password })).id;
  return { t, web, other, spa, user: { id, email, password } };
}

/** The /auth URL with sane defaults; `undefined` in `params` removes a parameter. */
export function authUrl(issuer: string, clientId: string, params: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access',
    state: 'st-' + client.randomState(),
    ...params,
  };
  const url = new URL('/auth', issuer);
  for (const [k, v] of Object.entries(all)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

export interface Authorized {
  browser: Browser;
  verifier: string;
  /** Where the provider finally sent the browser (the client's redirect URI). */
  location: URL;
  code: string;
}

/**
 * Drives the real login form until the provider redirects to the client,
 * without redeeming the code. Signs in only when the browser has no session.
 */
export async function authorize(
  c: Checklist,
  clientId: string,
  params: Record<string, string | undefined> = {},
  browser = new Browser(),
): Promise<Authorized> {
  const { issuer } = c.t;
  const verifier = client.randomPKCECodeVerifier();
  const url = authUrl(issuer, clientId, {
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
  const target = params.redirect_uri ?? REDIRECT_URI;
  let step = await browser.follow(url, issuer);
  for (let i = 0; i < 4 && !step.url.startsWith(target); i++) {
    const html = await step.res.text();
    if (step.res.status !== 200) throw new Error(`unexpected ${step.res.status} at ${step.url}: ${html.slice(0, 300)}`);
    const form = parseForm(html);
    const fields = form.action.endsWith('/login') ? { ...form.fields, email: c.user.email, password: c.user.password } : form.fields;
    const res = await browser.post(new URL(form.action, issuer).toString(), fields);
    step = await browser.follow(new URL(res.headers.get('location') ?? step.url, issuer).toString(), issuer);
  }
  const location = new URL(step.url);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code at ${step.url}`);
  return { browser, verifier, location, code };
}

export const basic = (creds: Creds) => `Basic ${Buffer.from(`${encodeURIComponent(creds.id)}:${encodeURIComponent(creds.secret ?? '')}`).toString('base64')}`;

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/**
 * A raw form POST to an endpoint, authenticated as `creds` (Basic for
 * confidential clients, client_id in the body for public ones, nothing if undefined).
 */
export async function post(issuer: string, path: string, fields: Record<string, string> | string, creds?: Creds): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  let body = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString();
  if (creds?.secret) headers.authorization = basic(creds);
  else if (creds) body += `&client_id=${encodeURIComponent(creds.id)}`;
  const res = await fetch(new URL(path, issuer), { method: 'POST', headers, body, redirect: 'manual' });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Redeems a code at /token over raw HTTP. */
export function redeem(c: Checklist, creds: Creds, a: Pick<Authorized, 'code' | 'verifier'>, extra: Record<string, string> = {}): Promise<Answer> {
  return post(c.t.issuer, '/token', { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, redirect_uri: REDIRECT_URI, ...extra }, creds);
}

/** Uses a refresh token at /token over raw HTTP. */
export function refresh(c: Checklist, creds: Creds, refreshToken: string, extra: Record<string, string> = {}): Promise<Answer> {
  return post(c.t.issuer, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, creds);
}

/** Signs in and redeems: a fresh refresh token (and access token) for `creds`. */
export async function tokensFor(c: Checklist, creds: Creds, params: Record<string, string | undefined> = {}): Promise<{ access_token: string; refresh_token: string }> {
  const a = await authorize(c, creds.id, params);
  const res = await redeem(c, creds, a);
  if (res.status !== 200) throw new Error(`redeem failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { access_token: string; refresh_token: string };
}
