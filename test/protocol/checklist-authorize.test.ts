import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../support/browser.ts';
import { REDIRECT_URI } from '../support/oidc.ts';
import { authorize, authUrl, POST_LOGOUT_URI, setupChecklist, type Checklist } from './checklist-support.ts';

let c: Checklist;

beforeAll(async () => {
  c = await setupChecklist();
});
afterAll(() => c?.t.close());

const get = (url: string) => fetch(url, { redirect: 'manual' });

/** A challenge/method pair that is valid on its own, so only the parameter under test is wrong. */
const pkce = async () => ({ code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });

/** Asserts the provider rendered an HTML error page with `error` and sent the browser nowhere. */
async function expectErrorPage(res: Response, error: string) {
  expect(res.status).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await res.text()).toContain(`<code>${error}</code>`);
}

/** Asserts an error redirect to the registered redirect URI carrying `error`, the state and iss. */
function expectErrorRedirect(res: Response, error: string, state: string) {
  expect(res.status).toBe(303);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('state')).toBe(state);
  expect(location.searchParams.get('iss')).toBe(c.t.issuer);
  return location;
}

describe('redirect_uri matching at /auth (CHECKLIST 1, 16)', () => {
  const variants = {
    unregistered: 'http://127.0.0.1:9/elsewhere',
    'query added': `${REDIRECT_URI}?next=/admin`,
    'port differs': 'http://127.0.0.1:10/callback',
    'trailing slash': `${REDIRECT_URI}/`,
    'path case differs': 'http://127.0.0.1:9/Callback',
    'host differs': 'http://localhost:9/callback',
    'scheme differs': 'https://127.0.0.1:9/callback',
  };

  for (const [name, uri] of Object.entries(variants)) {
    it(`a redirect_uri with ${name} gets an error page and no redirect`, async () => {
      const res = await get(authUrl(c.t.issuer, c.web.id, { redirect_uri: uri, ...(await pkce()) }));
      await expectErrorPage(res, 'invalid_redirect_uri');
    });
  }

  it('the exactly registered redirect_uri is accepted (control for the variants above)', async () => {
    const res = await get(authUrl(c.t.issuer, c.web.id, await pkce()));
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!, c.t.issuer).pathname).toMatch(/^\/interaction\//);
  });

  it('an unknown client_id gets an error page and no redirect, even to a URI other clients register', async () => {
    const res = await get(authUrl(c.t.issuer, 'no-such-client', await pkce()));
    await expectErrorPage(res, 'invalid_client');
  });

  it('a missing client_id gets an error page and no redirect', async () => {
    const res = await get(authUrl(c.t.issuer, 'ignored', { client_id: undefined, ...(await pkce()) }));
    await expectErrorPage(res, 'invalid_request');
  });

  it('a bad redirect_uri wins over other errors: missing PKCE with a foreign redirect_uri does not redirect', async () => {
    const res = await get(authUrl(c.t.issuer, c.spa.id, { redirect_uri: 'https://attacker.example/cb' }));
    await expectErrorPage(res, 'invalid_redirect_uri');
  });

  it('a bad redirect_uri wins over an unsupported response_type', async () => {
    const res = await get(authUrl(c.t.issuer, c.web.id, { redirect_uri: 'https://attacker.example/cb', response_type: 'token', ...(await pkce()) }));
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('PKCE at /auth (CHECKLIST 7, 8)', () => {
  it('a public client without code_challenge is refused with invalid_request', async () => {
    const res = await get(authUrl(c.t.issuer, c.spa.id, { state: 'spa-no-pkce' }));
    const location = expectErrorRedirect(res, 'invalid_request', 'spa-no-pkce');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('a confidential client without code_challenge is refused too, so no PKCE downgrade is possible', async () => {
    const res = await get(authUrl(c.t.issuer, c.web.id, { state: 'web-no-pkce' }));
    expectErrorRedirect(res, 'invalid_request', 'web-no-pkce');
  });

  it('a confidential client sending only code_challenge_method, no challenge, is refused', async () => {
    const res = await get(authUrl(c.t.issuer, c.web.id, { state: 'method-only', code_challenge_method: 'S256' }));
    expectErrorRedirect(res, 'invalid_request', 'method-only');
  });

  it('code_challenge_method=plain is refused', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const res = await get(authUrl(c.t.issuer, c.spa.id, { state: 'plain', code_challenge: verifier, code_challenge_method: 'plain' }));
    expectErrorRedirect(res, 'invalid_request', 'plain');
  });

  it('a code_challenge of the wrong shape is refused', async () => {
    const res = await get(authUrl(c.t.issuer, c.spa.id, { state: 'short', code_challenge: 'abc', code_challenge_method: 'S256' }));
    expectErrorRedirect(res, 'invalid_request', 'short');
  });
});

describe('authorization response (CHECKLIST 17)', () => {
  it('carries iss equal to the discovery issuer, byte for byte', async () => {
    const discovery = (await (await fetch(new URL('/.well-known/openid-configuration', c.t.issuer))).json()) as {
      issuer: string;
      authorization_response_iss_parameter_supported?: boolean;
    };
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    const { location } = await authorize(c, c.web.id);
    expect(location.searchParams.getAll('iss')).toEqual([discovery.issuer]);
    expect(discovery.issuer).toBe(c.t.issuer);
  });
});

describe('prompt and max_age (CHECKLIST 18)', () => {
  it('prompt=none without a session redirects with error=login_required and no code', async () => {
    const res = await get(authUrl(c.t.issuer, c.web.id, { prompt: 'none', state: 'silent', ...(await pkce()) }));
    const location = expectErrorRedirect(res, 'login_required', 'silent');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('max_age=1 forces the login page again once more than a second has passed', async () => {
    const browser = new Browser();
    await authorize(c, c.web.id, {}, browser);
    // Control: with the session and no max_age the browser goes straight back with a code.
    const sso = await browser.follow(authUrl(c.t.issuer, c.web.id, await pkce()), c.t.issuer);
    expect(new URL(sso.url).searchParams.get('code')).toEqual(expect.any(String));

    await new Promise((r) => setTimeout(r, 2_100));
    const again = await browser.follow(authUrl(c.t.issuer, c.web.id, { max_age: '1', ...(await pkce()) }), c.t.issuer);
    expect(again.url.startsWith(REDIRECT_URI)).toBe(false);
    expect(new URL(again.url).pathname).toMatch(/^\/interaction\//);
    expect(again.res.status).toBe(200);
    expect(await again.res.text()).toMatch(/name="password"/);
  });

  it('prompt=none with a session older than max_age redirects with login_required', async () => {
    const browser = new Browser();
    await authorize(c, c.web.id, {}, browser);
    await new Promise((r) => setTimeout(r, 2_100));
    const res = await browser.request(authUrl(c.t.issuer, c.web.id, { prompt: 'none', max_age: '1', state: 'stale', ...(await pkce()) }));
    expectErrorRedirect(res, 'login_required', 'stale');
  });
});

describe('RP-initiated logout (CHECKLIST 15)', () => {
  const endSession = (params: Record<string, string>, browser?: Browser) => {
    const url = new URL('/session/end', c.t.issuer);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const init = { headers: { accept: 'text/html' } };
    return browser ? browser.request(url.toString(), init) : fetch(url, { ...init, redirect: 'manual' });
  };

  /** Confirms the logout page; returns the first URL outside the issuer, or the issuer page the browser ends on. */
  const confirm = async (browser: Browser, page: Response) => {
    expect(page.status).toBe(200);
    const html = await page.text();
    const action = /<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"/.exec(html)?.[1] ?? /<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"/.exec(html)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(action).toEqual(expect.any(String));
    expect(xsrf).toEqual(expect.any(String));
    const res = await browser.post(new URL(action!, c.t.issuer).toString(), { xsrf: xsrf!, logout: 'yes' });
    expect(res.status).toBe(303);
    const next = new URL(res.headers.get('location')!, c.t.issuer).toString();
    return next.startsWith(c.t.issuer) ? browser.follow(next, c.t.issuer) : { res, url: next };
  };

  it('an unregistered post_logout_redirect_uri gets an error page and no redirect', async () => {
    const { browser } = await authorize(c, c.web.id);
    const res = await endSession({ client_id: c.web.id, post_logout_redirect_uri: 'https://attacker.example/bye' }, browser);
    await expectErrorPage(res, 'invalid_request');
  });

  it('a registered post_logout_redirect_uri with a query added gets an error page and no redirect', async () => {
    const { browser } = await authorize(c, c.web.id);
    const res = await endSession({ client_id: c.web.id, post_logout_redirect_uri: `${POST_LOGOUT_URI}?next=https://attacker.example` }, browser);
    await expectErrorPage(res, 'invalid_request');
  });

  it('a post_logout_redirect_uri without client_id or id_token_hint is ignored: logout ends on the issuer', async () => {
    const { browser } = await authorize(c, c.web.id);
    const page = await endSession({ post_logout_redirect_uri: POST_LOGOUT_URI }, browser);
    const end = await confirm(browser, page);
    expect(end.url.startsWith(c.t.issuer)).toBe(true);
    expect(end.res.status).toBe(200);
    expect(await end.res.text()).toContain('You are signed out.');
  });

  it('the exactly registered post_logout_redirect_uri is honoured after confirming (control)', async () => {
    const { browser } = await authorize(c, c.web.id);
    const page = await endSession({ client_id: c.web.id, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }, browser);
    const end = await confirm(browser, page);
    const out = new URL(end.url);
    expect(`${out.origin}${out.pathname}`).toBe(POST_LOGOUT_URI);
    expect(out.searchParams.get('state')).toBe('bye');
  });
});
