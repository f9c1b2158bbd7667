/**
 * The interop suite's shared set-up (issue 12): a real Tessera signing access
 * tokens with the algorithm under test, a role that grants `reports:view`, a
 * person holding it, a registered resource server, and a user agent that walks
 * a whole front-channel journey the way a person's browser would.
 *
 * The libraries under test are used exactly as their READMEs say; nothing here
 * adapts Tessera to them or them to Tessera.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resourceServers } from '../../src/db/schema/index.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { Browser, parseForm } from '../support/browser.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

export const ALGS = ['ES256', 'RS256'] as const;
export type Alg = (typeof ALGS)[number];

/** The resource server every interop token is for (RFC 8707), and the capability it checks. */
export const AUDIENCE = 'https://reports.interop.test';
export const CAPABILITY = 'reports:view';

export interface Interop {
  t: TestTessera;
  alg: Alg;
  owner: AdminApi;
  person: { id: string; email: string; password: string; name: string };
  /** A first-party web application with these redirect URIs; its id and secret. */
  webApp(redirectUris: string[], extra?: Record<string, unknown>): Promise<{ id: string; secret: string }>;
  /** A service client holding the report-reader role; its id and secret. */
  serviceApp(): Promise<{ id: string; secret: string }>;
  close(): Promise<void>;
}

export async function startInterop(alg: Alg): Promise<Interop> {
  const t = await startTessera({ TESSERA_SIGNING_ALG: alg, TESSERA_ALLOW_PRIVATE_OUTBOUND: 'true' });
  const owner = await ownerApi(t);
  await t.server.core.db.insert(resourceServers).values({ tenantId: t.tenantId, indicator: AUDIENCE, name: 'Reports', accessTokenFormat: 'jwt' });
  const role = await owner.post('/roles', { name: 'Report reader', capabilities: [CAPABILITY] });
  if (role.status !== 201) throw new Error(`role: ${role.status} ${JSON.stringify(role.body)}`);
  const person = { email: `ada-${alg.toLowerCase()}@interop.test`, password: 'a long interop passphrase', name: 'Ada Lovelace' };
  const user = await owner.post('/users', { email: person.email, display_name: person.name, password: person.password });
  if (user.status !== 201) throw new Error(`user: ${user.status} ${JSON.stringify(user.body)}`);
  await owner.put(`/users/${user.body.id}/roles/${role.body.slug}`, {});
  const app = async (body: Record<string, unknown>) => {
    const res = await owner.post('/applications', { name: `interop ${randomBytes(3).toString('hex')}`, ...body });
    if (res.status !== 201) throw new Error(`application: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id as string, secret: res.body.client_secret as string };
  };
  return {
    t,
    alg,
    owner,
    person: { id: user.body.id, ...person },
    webApp: (redirectUris, extra = {}) => app({ type: 'web', first_party: true, redirect_uris: redirectUris, ...extra }),
    async serviceApp() {
      const svc = await app({ type: 'service' });
      await owner.put(`/applications/${svc.id}/roles/${role.body.slug}`, {});
      return svc;
    },
    close: () => t.close(),
  };
}

/**
 * A cookie-jar user agent for a whole journey: it follows redirects across
 * origins (the RP and Tessera), fills in Tessera's sign-in form with the
 * person's credentials and submits any other Tessera form as shown (consent,
 * logout confirmation), and stops at the first page that is neither a redirect
 * nor Tessera's. Cookies are kept per name, as a browser keeps them for one host.
 */
export class UserAgent extends Browser {
  constructor(
    private readonly issuer: string,
    private readonly person: { email: string; password: string },
  ) {
    super();
  }

  /**
   * Walks from `start`. With `stopAt`, the journey ends at the first redirect
   * to a URL under it (a library RP's redirect URI, where nothing listens)
   * without requesting it.
   */
  async journey(start: string, opts: { stopAt?: string; init?: RequestInit } = {}): Promise<{ res: Response; url: string }> {
    let url = start;
    let res = await this.request(url, opts.init);
    for (let i = 0; i < 20; i++) {
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url).toString();
        if (opts.stopAt && url.startsWith(opts.stopAt)) return { res, url };
        res = await this.request(url);
        continue;
      }
      if (url.startsWith(this.issuer) && res.status === 200 && (res.headers.get('content-type') ?? '').includes('html')) {
        const form = parseForm(await res.text());
        const fields = form.action.endsWith('/login') ? { ...form.fields, email: this.person.email, password: this.person.password } : form.fields;
        url = new URL(form.action, url).toString();
        res = await this.post(url, fields);
        continue;
      }
      return { res, url };
    }
    throw new Error(`journey from ${start} did not settle; last at ${url}`);
  }
}

/** Listens on a free loopback port first, so the app can be registered with its real redirect URI before it is built. */
export async function listen(): Promise<{ base: string; handle(listener: RequestListener): void; close(): Promise<void>; server: Server }> {
  let current: RequestListener = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => current(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    server,
    handle: (listener) => {
      current = listener;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const scopesOf = (scope: unknown) => new Set(String(scope ?? '').split(' ').filter(Boolean));

/** The JOSE header of a compact JWT. */
export const headerOf = (jwt: string): { alg: string; typ?: string; kid?: string } => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString());
