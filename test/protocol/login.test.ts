import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';
import { Browser, parseForm } from '../support/browser.ts';
import { discover, openLoginForm, REDIRECT_URI } from '../support/oidc.ts';

let t: TestTessera;
let web: client.Configuration;
const user = { email: 'grace@example.test', password: 'a sufficiently long one' };

beforeAll(async () => {
  t = await startTessera({ TESSERA_LOGIN_MAX_PER_ACCOUNT: '3', TESSERA_LOGIN_MAX_PER_IP: '1000' });
  const { services } = t.server.core;
  const c = await services.clients.create(ownerAccess(t.tenantId), { name: 'Third-party app', type: 'web', redirectUris: [REDIRECT_URI] });
  web = await discover(t.issuer, c.client.id, c.secret!);
  await services.users.create(ownerAccess(t.tenantId), user);
});
afterAll(() => t?.close());

/** Opens the login page for a fresh authorization request. */
async function openLogin(scope = 'openid users:view') {
  const browser = new Browser();
  const url = client.buildAuthorizationUrl(web, {
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const { res, url: at } = await browser.follow(url.toString(), t.issuer);
  const html = await res.text();
  return { browser, html, at, form: parseForm(html) };
}

const submit = (b: Browser, action: string, fields: Record<string, string>) => b.post(new URL(action, t.issuer).toString(), fields);

describe('sign-in page', () => {
  it('is server-rendered, has no scripts, and sets protective headers and httpOnly cookies', async () => {
    const { html, browser } = await openLogin();
    expect(html).toContain('<form method="post"');
    expect(html).not.toMatch(/<script/i);
    const res = await browser.request(`${t.issuer}/.well-known/openid-configuration`);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const first = await fetch(
      client.buildAuthorizationUrl(web, { redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }),
      { redirect: 'manual' },
    );
    for (const cookie of first.headers.getSetCookie()) expect(cookie.toLowerCase()).toContain('httponly');
  });

  it('refuses a submission without the CSRF token', async () => {
    const { browser, form } = await openLogin();
    const res = await submit(browser, form.action, { email: user.email, password: user.password });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
  });

  it('answers an unknown email exactly like a wrong password', async () => {
    const a = await openLogin();
    const wrong = await submit(a.browser, a.form.action, { ...a.form.fields, email: user.email, password: 'not the password' });
    const b = await openLogin();
    const unknown = await submit(b.browser, b.form.action, { ...b.form.fields, email: 'nobody@example.test', password: 'not the password' });
    expect(wrong.status).toBe(unknown.status);
    const strip = (html: string) => html.replace(/value="[^"]*"/g, '').replace(/\/interaction\/[^/"]+/g, '');
    expect(strip(await wrong.text())).toBe(strip(await unknown.text()));
  });

  it('rate-limits failed attempts per account with 429, and a correct password is refused while blocked', async () => {
    const target = { email: 'limited@example.test', password: 'limited user password' };
    await t.server.core.services.users.create(ownerAccess(t.tenantId), target);
    for (let i = 0; i < 3; i++) {
      const p = await openLogin();
      const res = await submit(p.browser, p.form.action, { ...p.form.fields, email: target.email, password: `wrong-${i}` });
      expect(res.status).toBe(200);
    }
    const p = await openLogin();
    const blocked = await submit(p.browser, p.form.action, { ...p.form.fields, email: target.email, password: target.password });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('location')).toBeNull();
  });

  it('shows consent naming the capability scopes to a third-party client, and Deny returns access_denied', async () => {
    const p = await openLogin('openid users:view audit:read');
    const after = await submit(p.browser, p.form.action, { ...p.form.fields, email: user.email, password: user.password });
    const { res } = await p.browser.follow(new URL(after.headers.get('location')!, t.issuer).toString(), t.issuer);
    const html = await res.text();
    expect(html).toContain('<code>users:view</code>');
    expect(html).toContain('<code>audit:read</code>');
    const deny = parseForm(html, 1);
    const denied = await submit(p.browser, deny.action, deny.fields);
    const final = await p.browser.follow(new URL(denied.headers.get('location')!, t.issuer).toString(), t.issuer);
    const redirect = new URL(final.url);
    expect(redirect.origin + redirect.pathname).toBe(REDIRECT_URI);
    expect(redirect.searchParams.get('error')).toBe('access_denied');
  });

  it('a first-party native client skips consent; a third-party native one is asked every time (SPEC §6)', async () => {
    const { services } = t.server.core;
    const signInWith = async (clientId: string) => {
      const { browser, action, fields } = await openLoginForm(t.issuer, await discover(t.issuer, clientId));
      const after = await browser.post(action, { ...fields, email: user.email, password: user.password });
      return (await browser.follow(new URL(after.headers.get('location')!, t.issuer).toString(), t.issuer)).url;
    };
    const firstParty = await services.clients.create(ownerAccess(t.tenantId), { name: 'Our phone app', type: 'native', firstParty: true, redirectUris: [REDIRECT_URI] });
    const landed = new URL(await signInWith(firstParty.client.id));
    expect(landed.origin + landed.pathname).toBe(REDIRECT_URI);
    expect(landed.searchParams.get('code')).toEqual(expect.any(String));
    const thirdParty = await services.clients.create(ownerAccess(t.tenantId), { name: 'Their phone app', type: 'native', redirectUris: [REDIRECT_URI] });
    expect(await signInWith(thirdParty.client.id)).toContain('/interaction/');
  });
});
