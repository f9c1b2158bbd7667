import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchChromium } from '../support/chromium.ts';
import { ownerApi, type AdminApi } from '../support/api.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface ConsoleEnv {
  t: TestTessera;
  api: AdminApi;
  browser: Browser;
  close(): Promise<void>;
}

export async function startConsoleEnv(env: Record<string, string> = {}): Promise<ConsoleEnv> {
  const [t, browser] = await Promise.all([startTessera(env), launchChromium()]);
  return {
    t,
    api: await ownerApi(t),
    browser,
    async close() {
      await browser.close();
      await t.close();
    },
  };
}

/** A fresh browser profile signed in to the console as `who`, through Tessera's own sign-in page. */
export async function consoleAs(e: ConsoleEnv, who: { email: string; password: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await e.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${e.t.issuer}/console`);
  // With one tenant in the database the landing page knows it; with several (parallel test files) it asks.
  const tenant = page.getByLabel('Tenant');
  if (await tenant.count()) await tenant.fill(e.t.tenantSlug);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/interaction'));
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/console/'));
  return { context, page };
}

/** Runs axe-core in the page (evaluated over the DevTools protocol, so the console's CSP stays as it is). */
export async function expectAccessible(page: Page): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `${page.url()}: ${JSON.stringify(serious, null, 1)}`).toEqual([]);
}

/** The form's CSRF token as the page carries it. */
export const csrfOf = (page: Page) => page.locator('input[name="_csrf"]').first().inputValue();

/** Clicks something that submits a form or follows a link and waits for the next document to load (not a margin: the load event of that navigation). */
export async function clickAndLoad(page: Page, target: { click(): Promise<void> }): Promise<void> {
  await Promise.all([page.waitForEvent('load'), target.click()]);
}
