/**
 * CHECKLIST 41 and the console's session rules (SPEC §13): CSRF refused, a
 * Viewer sees no write controls and its direct POSTs are refused, no
 * `unsafe-inline` script source, a revoke-all ends the admin's console session
 * at the next request; and axe-core finds no serious or critical violation on
 * any console page.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickAndLoad, consoleAs, csrfOf, expectAccessible, startConsoleEnv, type ConsoleEnv } from './support.ts';

let e: ConsoleEnv;
let owner: Page;
let target: { id: string };
let group: { id: string };

beforeAll(async () => {
  e = await startConsoleEnv();
  ({ page: owner } = await consoleAs(e, e.t.owner));
  target = (await e.api.post('/users', { email: 'target@console.test', display_name: 'Target' })).body;
  group = (await e.api.post('/groups', { name: 'Ops' })).body;
  await e.api.post(`/groups/${group.id}/members`, { users: [target.id] });
  await e.api.post('/roles', { name: 'Report reader', capabilities: ['reports:view'] });
});
afterAll(() => e?.close());

async function personWith(role: string, email: string) {
  const person = { email, password: `${role} passphrase 1` };
  const user = await e.api.post('/users', { ...person, display_name: role });
  await e.api.put(`/users/${user.body.id}/roles/${role}`, {});
  return { ...person, id: user.body.id as string };
}

describe('CSRF (CHECKLIST 41)', () => {
  it('a console form posted without its token, or with another session’s, is 403 and changes nothing', async () => {
    const form = { role: 'report-reader' };
    const missing = await owner.request.post(`${e.t.issuer}/console/users/${target.id}/roles`, { form, maxRedirects: 0 });
    expect(missing.status()).toBe(403);
    const wrong = await owner.request.post(`${e.t.issuer}/console/users/${target.id}/roles`, { form: { ...form, _csrf: 'x'.repeat(43) }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    expect((await e.api.get(`/users/${target.id}/roles`)).body.direct).toEqual([]);
    // The same post with the page's token works: the refusal was the token, nothing else.
    await owner.goto(`${e.t.issuer}/console/users/${target.id}`);
    const ok = await owner.request.post(`${e.t.issuer}/console/users/${target.id}/roles`, { form: { ...form, _csrf: await csrfOf(owner) }, maxRedirects: 0 });
    expect(ok.status()).toBe(303);
    expect((await e.api.get(`/users/${target.id}/roles`)).body.direct.map((r: { slug: string }) => r.slug)).toEqual(['report-reader']);
  });

  it('the console’s Content-Security-Policy allows no inline script', async () => {
    const res = await owner.goto(`${e.t.issuer}/console/users`);
    const csp = res!.headers()['content-security-policy']!;
    const scriptSrc = /script-src ([^;]+)/.exec(csp)?.[1] ?? /default-src ([^;]+)/.exec(csp)![1]!;
    expect(scriptSrc.trim()).toBe("'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
  });
});

describe('a Viewer (CHECKLIST 41)', () => {
  it('sees no write controls, and its direct POSTs are refused', async () => {
    const viewer = await personWith('viewer', 'viewer@console.test');
    const { page, context } = await consoleAs(e, viewer);
    await page.goto(`${e.t.issuer}/console/users`);
    expect(await page.locator('input[name="selected"]').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Apply to selected users' }).count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/users/${target.id}`);
    expect(await page.getByRole('button', { name: 'Add role' }).count()).toBe(0);
    expect(await page.locator('button.chip-x').count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/users/${target.id}/sessions`);
    expect(await page.getByRole('button', { name: 'Revoke all sessions' }).count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/roles`);
    expect(await page.getByRole('link', { name: 'New role' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Edit' }).count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/groups/${group.id}`);
    expect(await page.getByRole('button', { name: 'Add member' }).count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/applications`);
    expect(await page.getByRole('button', { name: 'Create application' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Rotate secret|Disable/ }).count()).toBe(0);
    await page.goto(`${e.t.issuer}/console/branding`);
    expect(await page.getByRole('button', { name: 'Save branding' }).count()).toBe(0);
    expect(await page.getByLabel('Display name').getAttribute('readonly')).not.toBeNull();
    await page.goto(`${e.t.issuer}/console/audit`);
    expect(await page.getByRole('button', { name: 'Start export' }).count()).toBe(0);

    // Direct posts with the Viewer's own valid CSRF token: refused by the server, nothing changes.
    const csrf = await csrfOf(page);
    const attempts: Array<[string, Record<string, string>]> = [
      [`/console/users/${target.id}/roles`, { role: 'owner' }],
      [`/console/users/${target.id}/sessions/revoke-all`, { confirm: 'yes' }],
      ['/console/roles', { name: 'Sneaky' }],
      [`/console/groups/${group.id}/roles`, { role: 'administrator' }],
      ['/console/branding', { display_name: 'Pwned' }],
      ['/console/applications', { name: 'Backdoor', type: 'service' }],
    ];
    for (const [path, form] of attempts) {
      const res = await page.request.post(`${e.t.issuer}${path}`, { form: { ...form, _csrf: csrf }, maxRedirects: 0 });
      expect(res.status(), path).toBe(403);
    }
    expect((await e.api.get(`/users/${target.id}/roles`)).body.direct.map((r: { slug: string }) => r.slug)).toEqual(['report-reader']);
    expect((await e.api.get(`/groups/${group.id}/roles`)).body.direct).toEqual([]);
    expect((await e.api.get('/branding')).body.display_name).not.toBe('Pwned');
    expect((await e.api.get('/roles')).body.items.map((r: { name: string }) => r.name)).not.toContain('Sneaky');
    await context.close();
  });

  it('an Administrator can’t make itself or anyone an Owner from the console either', async () => {
    const admin = await personWith('administrator', 'admin@console.test');
    const { page, context } = await consoleAs(e, admin);
    await page.goto(`${e.t.issuer}/console/users/${target.id}`);
    const res = await page.request.post(`${e.t.issuer}/console/users/${admin.id}/roles`, { form: { role: 'owner', _csrf: await csrfOf(page) }, maxRedirects: 0 });
    expect(res.status()).toBe(403);
    expect((await e.api.get(`/users/${admin.id}/roles`)).body.direct.map((r: { slug: string }) => r.slug)).toEqual(['administrator']);
    await context.close();
  });
});

describe('the console session', () => {
  it('ends at the next request after a revoke-all of the admin, and the sign-in page asks for the password', async () => {
    const admin = await personWith('administrator', 'admin2@console.test');
    const { page, context } = await consoleAs(e, admin);
    await page.goto(`${e.t.issuer}/console/users`);
    expect(await page.locator('h1').textContent()).toBe('Users');
    expect((await e.api.delete(`/users/${admin.id}/sessions`)).status).toBe(200);
    await page.goto(`${e.t.issuer}/console/users`);
    expect(page.url()).toContain('/interaction/');
    expect(await page.getByLabel('Password').count()).toBe(1);
    await context.close();
  });

  it('signs out through Tessera (RP-initiated logout) and the browser keeps only an httpOnly cookie', async () => {
    const admin = await personWith('operator', 'operator@console.test');
    const { page, context } = await consoleAs(e, admin);
    const cookies = await context.cookies();
    const consoleCookie = cookies.find((c) => c.name === 'tessera_console')!;
    expect(consoleCookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/console' });
    expect(cookies.every((c) => !/eyJ/.test(c.value))).toBe(true);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/session/end'));
    await clickAndLoad(page, page.getByRole('button', { name: 'Yes, sign me out' }));
    expect(new URL(page.url()).pathname).toBe('/console');
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(1);
    await context.close();
  });
});

describe('accessibility (axe-core in the page)', () => {
  it('finds no serious or critical violation on any console page', async () => {
    const role = (await e.api.get('/roles')).body.items[0].slug;
    const app = await e.api.post('/applications', { name: 'A11y app', type: 'service' });
    const pages = [
      '/',
      '/console/users',
      `/console/users/${target.id}`,
      `/console/users/${target.id}/explain`,
      `/console/users/${target.id}/sessions`,
      '/console/groups',
      `/console/groups/${group.id}`,
      `/console/groups/${group.id}/subgroups`,
      `/console/groups/${group.id}/roles`,
      '/console/roles',
      '/console/roles?builtin=1',
      '/console/roles/new',
      `/console/roles/${role}`,
      `/console/roles/${role}/edit`,
      `/console/roles/${role}/delete`,
      '/console/system-roles',
      '/console/applications',
      '/console/audit',
      '/console/branding',
    ];
    for (const path of pages) {
      const res = await owner.goto(`${e.t.issuer}${path}`);
      expect(res!.status(), path).toBe(200);
      await expectAccessible(owner);
    }
    // The page that shows a new secret once.
    await owner.goto(`${e.t.issuer}/console/applications`);
    // Rotating asks first (console.js); accept.
    owner.once('dialog', (d) => void d.accept());
    await clickAndLoad(owner, owner.getByRole('button', { name: `Rotate secret of ${app.body.name}` }));
    expect(await owner.locator('[data-secret]').count()).toBe(1);
    await expectAccessible(owner);
    // The signed-out landing page.
    const fresh = await e.browser.newPage();
    await fresh.goto(`${e.t.issuer}/console`);
    await expectAccessible(fresh);
    await fresh.close();
  }, 120_000);
});
