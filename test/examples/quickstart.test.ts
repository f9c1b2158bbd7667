/**
 * docs/quickstart.md, run: the admin API calls it shows (role, group, user,
 * application), then the example web app it starts (`examples/web-app.ts`, as
 * its own process) driven by a real browser (Debian's Chromium through
 * playwright-core): sign in on Tessera's page, see the person and the
 * capability scope the group's role grants, sign out through Tessera.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.ts';
import { freePort, startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
let browser: Browser;
let example: ChildProcess | undefined;

beforeAll(async () => {
  [t, browser] = await Promise.all([startTessera(), launchChromium()]);
});
afterAll(async () => {
  example?.kill('SIGTERM');
  await browser?.close();
  await t?.close();
});

/** Step 3: client credentials for the admin automation client, as the curl line does. */
async function adminToken(): Promise<string> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${t.admin.id}:${t.admin.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function startExample(env: Record<string, string>): Promise<void> {
  example = spawn(process.execPath, ['--import', 'tsx', 'examples/web-app.ts'], { env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  example.stdout!.on('data', (d) => (out += d));
  example.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (out.includes('Example app listening')) {
        clearInterval(check);
        resolve();
      } else if (example!.exitCode !== null) {
        clearInterval(check);
        reject(new Error(`the example app exited: ${out}`));
      }
    }, 50);
  });
}

describe('the quickstart (docs/quickstart.md)', () => {
  it('ends in a working sign-in: the example app shows the person and the role’s scope, and signs out through Tessera', async () => {
    const token = await adminToken();
    const api = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${t.issuer}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = res.status === 204 ? {} : await res.json();
      expect(res.status, `${method} ${path}: ${JSON.stringify(json)}`).toBeLessThan(300);
      return json as Record<string, string>;
    };
    // Step 4, as written.
    await api('POST', '/roles', { name: 'Report reader', capabilities: ['reports:view'] });
    const group = await api('POST', '/groups', { name: 'Analysts' });
    await api('PUT', `/groups/${group.id}/roles/report-reader`, {});
    const ada = await api('POST', '/users', { email: 'ada@example.com', display_name: 'Ada', password: 'a long passphrase' });
    await api('POST', `/groups/${group.id}/members`, { users: [ada.id] });
    const port = await freePort();
    const appUrl = `http://127.0.0.1:${port}`;
    const app = await api('POST', '/applications', { name: 'Reports', type: 'web', first_party: true, redirect_uris: [`${appUrl}/callback`], post_logout_redirect_uris: [`${appUrl}/`] });

    // Step 5: the example app.
    await startExample({ TESSERA_ISSUER: t.issuer, CLIENT_ID: app.id!, CLIENT_SECRET: app.client_secret!, APP_URL: appUrl });
    const page = await browser.newPage();
    await page.goto(appUrl);
    await page.getByRole('link', { name: 'Sign in with Tessera' }).click();
    await page.waitForURL((url) => url.href.startsWith(t.issuer));
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill('a long passphrase');
    await page.getByRole('button', { name: /sign in/i }).click();
    await page.waitForURL(`${appUrl}/`);
    await expect.poll(() => page.locator('[data-field="name"]').textContent()).toBe('Ada');
    expect(await page.locator('[data-field="email"]').textContent()).toBe('ada@example.com');
    expect(await page.locator('[data-field="sub"]').textContent()).toBe(ada.id);
    expect(await page.locator('[data-field="scopes"] li').allTextContents()).toContain('reports:view');

    // Sign out: Tessera asks, then sends the browser back to the app.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.href.startsWith(t.issuer));
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${appUrl}/`);
    expect(await page.getByText('You are signed out.').count()).toBe(1);
    // Tessera's session is gone too: signing in again asks for the password.
    await page.getByRole('link', { name: 'Sign in with Tessera' }).click();
    await page.waitForURL((url) => url.href.startsWith(t.issuer));
    expect(await page.getByLabel('Password').count()).toBe(1);
    await page.close();
  }, 90_000);
});
