/**
 * The console's role flows in Chromium (issue 13, seeds 000-003), each checked
 * through the admin API as well as on screen: the four seed roles built in the
 * editor with the dependency lock, a duplicate name refused in place, a
 * starter group, a member signing in to an app with the role's scopes,
 * deleting an assigned role (blocked, then unassign with the prior list in the
 * audit event, slug retired), and assigning from the role, the user and the group.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, REDIRECT_URI, scopesOf, signIn, verifyAccessToken } from '../support/oidc.ts';
import { clickAndLoad, consoleAs, expectAccessible, startConsoleEnv, type ConsoleEnv } from './support.ts';

let e: ConsoleEnv;
let page: Page;

beforeAll(async () => {
  e = await startConsoleEnv();
  ({ page } = await consoleAs(e, e.t.owner));
});
afterAll(() => e?.close());

const cap = (id: string) => page.locator(`input[name="capabilities"][value="${id}"]`);
const requiredNote = (id: string) => page.locator(`[data-required-for="${id}"]`);

const SEEDS = [
  { name: 'Branding editor', pick: ['branding:edit'], expected: ['branding:edit', 'branding:view'], locked: 'branding:view' },
  { name: 'External auditor', pick: ['audit:export', 'users:view', 'applications:view', 'authentication:view'], expected: ['applications:view', 'audit:export', 'audit:read', 'authentication:view', 'users:view'], locked: 'audit:read' },
  { name: 'Customer Success Lead', pick: ['users:reset_password', 'users:mfa_reset', 'users:suspend', 'audit:read'], expected: ['audit:read', 'users:mfa_reset', 'users:reset_password', 'users:suspend', 'users:view'], locked: 'users:view' },
  { name: 'Compliance reviewer', pick: ['audit:export', 'users:view', 'reports:view'], expected: ['audit:export', 'audit:read', 'reports:view', 'users:view'], locked: 'audit:read' },
];

describe('the role editor (seed 000)', () => {
  it.each(SEEDS)('creates "$name" with the dependency lock shown, and the API has exactly its closure', async (seed) => {
    await page.goto(`${e.t.issuer}/console/roles/new`);
    const save = page.getByRole('button', { name: 'Save role' });
    expect(await save.isDisabled()).toBe(true);
    await page.getByLabel('Name', { exact: true }).fill(seed.name);
    // The slug follows the name as it is typed.
    expect(await page.getByLabel('Slug').inputValue()).toBe(seed.name.toLowerCase().replace(/ /g, '-'));
    expect(await save.isDisabled()).toBe(true);
    for (const id of seed.pick) await cap(id).check();
    // Choosing a write capability checks its read and labels it "(required)".
    expect(await cap(seed.locked).isChecked()).toBe(true);
    expect(await requiredNote(seed.locked).isVisible()).toBe(true);
    expect(await save.isDisabled()).toBe(false);
    await save.click();
    await page.waitForURL(`${e.t.issuer}/console/roles/${seed.name.toLowerCase().replace(/ /g, '-')}`);
    expect(await page.locator('h1').textContent()).toBe(seed.name);
    const role = await e.api.get(`/roles/${seed.name.toLowerCase().replace(/ /g, '-')}`);
    expect(role.body.capabilities).toEqual(seed.expected);
  });

  it('unchecking a read unchecks what depends on it; reserved capabilities are absent', async () => {
    await page.goto(`${e.t.issuer}/console/roles/new`);
    await cap('users:suspend').check();
    await cap('users:delete').check();
    expect(await requiredNote('users:view').isVisible()).toBe(true);
    await cap('users:view').uncheck();
    expect(await cap('users:suspend').isChecked()).toBe(false);
    expect(await cap('users:delete').isChecked()).toBe(false);
    expect(await requiredNote('users:view').isVisible()).toBe(false);
    expect(await cap('tenant:transfer_ownership').count()).toBe(0);
    // The master checkbox of an area chooses all of it.
    await page.locator('input[data-area-master="branding"]').check();
    expect(await cap('branding:view').isChecked()).toBe(true);
    expect(await cap('branding:edit').isChecked()).toBe(true);
    await expectAccessible(page);
  });

  it('refuses a duplicate name in another case in place, and nothing is created', async () => {
    const before = (await e.api.get('/roles')).body.items.length;
    await page.goto(`${e.t.issuer}/console/roles/new`);
    await page.getByLabel('Name', { exact: true }).fill('BRANDING editor');
    await cap('branding:view').check();
    await page.getByLabel('Slug').fill('branding-editor-two');
    await clickAndLoad(page, page.getByRole('button', { name: 'Save role' }));
    expect(await page.locator('#name-error').textContent()).toContain('Role name already exists');
    // The form keeps what was typed.
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('BRANDING editor');
    expect((await e.api.get('/roles')).body.items.length).toBe(before);
  });
});

describe('assignments', () => {
  it('a starter group chosen in the editor gets the role, and its member signs in to an app with the role’s scopes', async () => {
    const group = await e.api.post('/groups', { name: 'Support desk' });
    const member = { email: 'member@console.test', password: 'member passphrase 1' };
    const user = await e.api.post('/users', { ...member, display_name: 'Member' });
    await e.api.post(`/groups/${group.body.id}/members`, { users: [user.body.id] });
    await page.goto(`${e.t.issuer}/console/roles/new`);
    await page.getByLabel('Name', { exact: true }).fill('Support reports');
    await cap('reports:view').check();
    await page.getByLabel('Groups').selectOption(group.body.id);
    await page.getByRole('button', { name: 'Save role' }).click();
    await page.waitForURL(`${e.t.issuer}/console/roles/support-reports`);
    expect(await page.getByRole('link', { name: 'Support desk' }).count()).toBe(1);
    const assignments = await e.api.get('/roles/support-reports/assignments');
    expect(assignments.body.groups.map((g: { id: string }) => g.id)).toEqual([group.body.id]);

    const app = await e.api.post('/applications', { name: 'Reports app', type: 'web', first_party: true, redirect_uris: [REDIRECT_URI] });
    const { tokens } = await signIn(e.t.issuer, await discover(e.t.issuer, app.body.id, app.body.client_secret), member, { scope: 'openid reports:view' });
    expect(scopesOf(await verifyAccessToken(e.t.issuer, tokens.access_token)).has('reports:view')).toBe(true);
  });

  it('assigns from the role, from the user and from the group', async () => {
    const a = await e.api.post('/users', { email: 'from-role@console.test' });
    const b = await e.api.post('/users', { email: 'from-user@console.test' });
    const g = await e.api.post('/groups', { name: 'Auditors' });
    // From the role's page.
    await page.goto(`${e.t.issuer}/console/roles/external-auditor`);
    await page.getByLabel('User email').fill('from-role@console.test');
    await clickAndLoad(page, page.getByRole('button', { name: 'Assign', exact: true }));
    expect(await page.getByText('Assigned.').count()).toBe(1);
    // From the user's page.
    await page.goto(`${e.t.issuer}/console/users/${b.body.id}`);
    await page.getByLabel('Add a role').selectOption('compliance-reviewer');
    await clickAndLoad(page, page.getByRole('button', { name: 'Add role' }));
    expect(await page.locator('.chips .chip').filter({ hasText: 'Compliance reviewer' }).count()).toBe(1);
    // From the group's Roles tab.
    await page.goto(`${e.t.issuer}/console/groups/${g.body.id}/roles`);
    await page.getByLabel('Assign a role').selectOption('branding-editor');
    await clickAndLoad(page, page.getByRole('button', { name: 'Assign role' }));
    expect(await page.locator('.chips .chip').filter({ hasText: 'Branding editor' }).count()).toBe(1);

    const roles = async (id: string) => (await e.api.get(`/users/${id}/roles`)).body.direct.map((r: { slug: string }) => r.slug);
    expect(await roles(a.body.id)).toContain('external-auditor');
    expect(await roles(b.body.id)).toContain('compliance-reviewer');
    expect((await e.api.get(`/groups/${g.body.id}/roles`)).body.direct.map((r: { slug: string }) => r.slug)).toEqual(['branding-editor']);
    // Removing with the chip's ×.
    await page.goto(`${e.t.issuer}/console/users/${b.body.id}`);
    await clickAndLoad(page, page.getByRole('button', { name: 'Remove Compliance reviewer' }));
    expect(await roles(b.body.id)).not.toContain('compliance-reviewer');
  });

  it('deleting an assigned role is blocked with the reason, then unassign deletes it with the prior list in the audit event, and the slug is retired', async () => {
    const holder = await e.api.post('/users', { email: 'holder@console.test' });
    await e.api.put(`/users/${holder.body.id}/roles/customer-success-lead`, {});
    await page.goto(`${e.t.issuer}/console/roles`);
    const row = page.locator('tr').filter({ hasText: 'Customer Success Lead' });
    expect(await row.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
    expect(await row.getByText('Assigned to 1 users').count()).toBe(1);
    await row.getByRole('link', { name: /Unassign or reassign/ }).click();
    await page.waitForURL(`${e.t.issuer}/console/roles/customer-success-lead/delete`);
    expect(await page.getByText('holder@console.test').count()).toBe(1);
    await page.getByLabel('Unassign it from everyone').check();
    await page.getByRole('button', { name: 'Delete role' }).click();
    await page.waitForURL(`${e.t.issuer}/console/roles`);
    expect(await page.getByText('Role customer-success-lead deleted and its slug retired.').count()).toBe(1);

    expect((await e.api.get('/roles/customer-success-lead')).status).toBe(404);
    const events = await e.api.get('/audit-events?action=role.deleted&target_id=customer-success-lead');
    const [event] = events.body.items;
    expect(event.actor).toEqual({ type: 'user', id: e.t.owner.id });
    expect(event.data.strategy).toBe('unassign');
    expect(event.data.prior_assignments.users.map((u: { id: string }) => u.id)).toEqual([holder.body.id]);
    const again = await e.api.post('/roles', { name: 'Another lead', slug: 'customer-success-lead', capabilities: ['users:view'] });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('slug_unavailable');
  });

  it('shows the system-role matrix (seed 003) with the four roles', async () => {
    await page.goto(`${e.t.issuer}/console/system-roles`);
    const headers = await page.locator('table.matrix thead th').allTextContents();
    expect(headers).toEqual(['Capability', 'Owner', 'Administrator', 'Operator', 'Viewer']);
    const transfer = page.locator('tr').filter({ hasText: 'tenant:transfer_ownership' });
    expect(await transfer.locator('td.yes').count()).toBe(1);
  });
});
