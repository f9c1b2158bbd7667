/**
 * The console's user flows in Chromium (issue 13, seed 002), checked through
 * the admin API too: a bulk add of Operator to users picked on two pages of
 * the list, with the job's progress and outcome; and "Revoke all sessions",
 * after which the user's app can't refresh and their browser is asked to sign in again.
 */
import { gunzipSync } from 'node:zlib';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobWorkers } from '../../src/app/workers.ts';
import { ownerAccess } from '../support/access.ts';
import { Browser } from '../support/browser.ts';
import { discover, REDIRECT_URI, signIn } from '../support/oidc.ts';
import { clickAndLoad, consoleAs, startConsoleEnv, type ConsoleEnv } from './support.ts';

let e: ConsoleEnv;
let page: Page;
let workers: ReturnType<typeof startJobWorkers>;

beforeAll(async () => {
  e = await startConsoleEnv();
  // The bulk job needs a worker, as `npm start` runs one beside the HTTP server.
  workers = startJobWorkers(e.t.server.core);
  ({ page } = await consoleAs(e, e.t.owner));
});
afterAll(async () => {
  await workers?.close();
  await e?.close();
});

describe('users list', () => {
  it('bulk-adds Operator to users chosen across two pages, with live progress and the outcome', async () => {
    // 60 users without passwords (no Argon2 needed), after the Owner: the list shows 50 a page.
    const users = e.t.server.core.services.users;
    const made: string[] = [];
    for (let i = 0; i < 60; i++) made.push((await users.create(ownerAccess(e.t.tenantId), { email: `bulk-${String(i).padStart(2, '0')}@console.test` })).id);
    await page.goto(`${e.t.issuer}/console/users`);
    expect(await page.locator('input[name="selected"]').count()).toBe(50);
    // Two on the first page.
    const onFirst = made.slice(0, 2);
    for (const id of onFirst) await page.locator(`input[name="selected"][value="${id}"]`).check();
    await clickAndLoad(page, page.getByRole('button', { name: 'Next page' }));
    expect(await page.getByText('2 selected.').count()).toBeGreaterThan(0);
    // One on the second page.
    const onSecond = made[59]!;
    await page.locator(`input[name="selected"][value="${onSecond}"]`).check();
    await page.getByLabel('Role', { exact: true }).selectOption('operator');
    await page.getByLabel('Change').selectOption('add');
    await clickAndLoad(page, page.getByRole('button', { name: 'Apply to selected users' }));
    expect(page.url()).toMatch(/\/console\/jobs\/[0-9a-f-]{36}$/);
    expect(await page.locator('progress').count()).toBe(1);
    // The page polls the job and reloads with the outcome when it ends.
    await page.locator('[data-count="changed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-count="changed"]').textContent()).toBe('3');
    expect(await page.locator('[data-count="failed"]').textContent()).toBe('0');

    const holders = async (id: string) => (await e.api.get(`/users/${id}/roles`)).body.direct.map((r: { slug: string }) => r.slug);
    for (const id of [...onFirst, onSecond]) expect(await holders(id)).toContain('operator');
    expect(await holders(made[2]!)).not.toContain('operator');
    const job = (await e.api.get(`/jobs/${page.url().split('/').pop()}`)).body;
    expect(job).toMatchObject({ status: 'completed', progress: { done: 3, total: 3 } });
  }, 90_000);

  it('searches by email', async () => {
    await page.goto(`${e.t.issuer}/console/users?q=bulk-07`);
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.getByText('1 user matches.').count()).toBe(1);
  });
});

describe('audit log', () => {
  it('filters, then exports the filtered events with progress and a download link', async () => {
    await page.goto(`${e.t.issuer}/console/audit?action=user.created`);
    const actions = await page.locator('tbody td:nth-child(3)').allTextContents();
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['user.created']));
    await page.getByLabel('Export these events as').selectOption('ndjson');
    await clickAndLoad(page, page.getByRole('button', { name: 'Start export' }));
    expect(page.url()).toMatch(/\/console\/jobs\//);
    const link = page.getByRole('link', { name: 'Download the export' });
    await link.waitFor({ timeout: 60_000 });
    const res = await page.request.get(new URL((await link.getAttribute('href'))!, e.t.issuer).href);
    expect(res.status()).toBe(200);
    const lines = gunzipSync(await res.body()).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
    const viaApi = await e.api.get('/audit-events?action=user.created&limit=200');
    expect(viaApi.body.next_cursor).toBeNull();
    expect(lines.length).toBe(viaApi.body.items.length);
    expect(new Set(lines.map((l) => l.action))).toEqual(new Set(['user.created']));
  }, 90_000);
});

describe('a user’s sessions', () => {
  it('"Revoke all sessions" ends the app’s refresh and the browser’s session', async () => {
    const person = { email: 'revoked@console.test', password: 'revoked passphrase 1' };
    const user = await e.api.post('/users', { ...person, display_name: 'Revoked' });
    await e.api.put(`/users/${user.body.id}/roles/viewer`, {});
    const app = await e.api.post('/applications', { name: 'App', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const config = await discover(e.t.issuer, app.body.id, app.body.client_secret);
    const theirBrowser = new Browser();
    const { tokens } = await signIn(e.t.issuer, config, person, { scope: 'openid users:view', browser: theirBrowser });
    expect(tokens.refresh_token).toBeDefined();

    await page.goto(`${e.t.issuer}/console/users/${user.body.id}/sessions`);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.getByLabel(/Yes, sign .* out everywhere/).check();
    await clickAndLoad(page, page.getByRole('button', { name: 'Revoke all sessions' }));
    expect(await page.getByText('Every session of this user was revoked').count()).toBe(1);
    expect(await page.getByText('No active sessions.').count()).toBe(1);

    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Their browser, sent to Tessera again by the app, gets the sign-in form instead of a silent redirect back.
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const step = await theirBrowser.follow(url.toString(), e.t.issuer);
    expect(step.url).toContain('/interaction/');
    expect(await step.res.text()).toContain('type="password"');
  });
});
