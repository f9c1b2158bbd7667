/**
 * The console's branding page (SPEC §13): a live preview of the sign-in page
 * and a WCAG AA contrast check of the accent colour, then saving it through
 * the same service as the admin API; and the issuer's root page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickAndLoad, consoleAs, csrfOf, startConsoleEnv, type ConsoleEnv } from './support.ts';

let e: ConsoleEnv;
beforeAll(async () => {
  e = await startConsoleEnv();
});
afterAll(() => e?.close());

describe('branding', () => {
  it('previews the sign-in page as you type, checks the accent colour’s contrast, and saves', async () => {
    const { page, context } = await consoleAs(e, e.t.owner);
    await page.goto(`${e.t.issuer}/console/branding`);
    await page.getByLabel('Display name').fill('Acme Identity');
    await page.getByLabel('Accent colour').fill('#ffd500');
    // Yellow under white text fails AA; the check says so before anything is saved.
    await expect.poll(() => page.locator('[data-contrast]').textContent()).toContain('fails WCAG AA');
    const frame = page.frameLocator('iframe[data-preview]');
    await expect.poll(() => frame.locator('.brand span').textContent()).toBe('Acme Identity');
    await page.getByLabel('Accent colour').fill('#1d4ed8');
    await expect.poll(() => page.locator('[data-contrast]').textContent()).toContain('passes WCAG AA');
    await clickAndLoad(page, page.getByRole('button', { name: 'Save branding' }));
    expect(await page.getByText('Branding saved').count()).toBe(1);
    expect((await e.api.get('/branding')).body).toMatchObject({ display_name: 'Acme Identity', accent_color: '#1d4ed8' });
    // The field's pattern stops a bad colour in the browser; posted anyway, the service refuses it as the API does.
    const res = await page.request.post(`${e.t.issuer}/console/branding`, {
      form: { _csrf: await csrfOf(page), display_name: 'Acme Identity', logo_url: '', accent_color: 'red; background:url(x)' },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(422);
    expect(await res.text()).toContain('#rgb or #rrggbb');
    expect((await e.api.get('/branding')).body.accent_color).toBe('#1d4ed8');
    await context.close();
  });
});

describe('the issuer’s root', () => {
  it('points to the console and the discovery document instead of Not Found', async () => {
    const res = await fetch(`${e.t.issuer}/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('href="/console"');
    expect(html).toContain('href="/.well-known/openid-configuration"');
  });
});
