import { startTessera } from '../support/tessera.ts';
import { launchChromium } from '../support/chromium.ts';
const t = await startTessera({ LOG_LEVEL: 'warn' });
const browser = await launchChromium();
const page = await browser.newPage();
page.on('console', (m) => console.log('console:', m.text()));
page.on('pageerror', (e) => console.log('pageerror:', e.message));
await page.goto(`${t.issuer}/`);
console.log('root:', (await page.textContent('main'))?.slice(0, 100));
await page.goto(`${t.issuer}/console`);
console.log('landing:', page.url(), (await page.textContent('main'))?.slice(0, 100));
await page.getByRole('button', { name: 'Sign in' }).click();
await page.waitForURL((u) => u.pathname.startsWith('/interaction'));
await page.getByLabel('Email').fill(t.owner.email);
await page.getByLabel('Password').fill(t.owner.password);
await page.getByRole('button', { name: /sign in/i }).click();
await page.waitForURL((u) => u.pathname.startsWith('/console/'), { timeout: 10000 });
console.log('after login:', page.url());
for (const path of ['/console/users', '/console/groups', '/console/roles', '/console/roles?builtin=1', '/console/roles/new', '/console/system-roles', '/console/applications', '/console/audit', '/console/branding', `/console/users/${t.owner.id}`, `/console/users/${t.owner.id}/sessions`, `/console/users/${t.owner.id}/explain`]) {
  const res = await page.goto(`${t.issuer}${path}`);
  console.log(path, res?.status(), (await page.textContent('h1')));
}
await page.screenshot({ path: '/tmp/console-users.png', fullPage: true });
await page.goto(`${t.issuer}/console/roles/new`);
await page.screenshot({ path: '/tmp/console-role-new.png', fullPage: true });
await browser.close();
await t.close();
process.exit(0);
