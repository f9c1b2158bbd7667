import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ROLES } from '../../src/catalogue/index.ts';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

const capsOf = (slug: string) => SYSTEM_ROLES.find((r) => r.slug === slug)!.capabilities;

describe('cache invalidation scope (issue 14)', () => {
  it("one user's membership and role changes leave other subjects' cached entitlements in place, and show in the changed user's next lookup", async () => {
    const { services, entitlements, entitlementStats: stats } = t.server.core;
    const owner = ownerAccess(t.tenantId);
    const [a, b] = await Promise.all([services.users.create(owner, { email: 'scope-a@example.test' }), services.users.create(owner, { email: 'scope-b@example.test' })]);
    await services.roles.assign(owner, 'viewer', { type: 'user', id: a.id });
    await services.roles.assign(owner, 'viewer', { type: 'user', id: b.id });
    const group = await services.groups.createGroup(owner, { name: 'Scope operators' });
    await services.groups.assignRole(owner, group.id, 'operator', null);
    const lookup = (id: string) => entitlements.capabilitiesOf(t.tenantId, 'user', id);
    await lookup(a.id);
    expect(await lookup(b.id)).toEqual([...capsOf('viewer')].sort());

    // A membership change of A: B's entry stays a hit, A's next lookup sees the group's role.
    await services.groups.addMembers(owner, group.id, [a.id]);
    let before = { ...stats };
    expect(await lookup(b.id)).toEqual([...capsOf('viewer')].sort());
    expect(stats).toEqual({ hits: before.hits + 1, misses: before.misses });
    expect(await lookup(a.id)).toEqual(expect.arrayContaining([...capsOf('operator')]));
    expect(stats.misses).toBe(before.misses + 1);

    // A direct unassignment from B: A's entry stays, B's lookup loses the role at once.
    before = { ...stats };
    await services.roles.unassign(owner, 'viewer', { type: 'user', id: b.id });
    expect(await lookup(a.id)).toEqual(expect.arrayContaining([...capsOf('operator')]));
    expect(stats).toEqual({ hits: before.hits + 1, misses: before.misses });
    expect(await lookup(b.id)).toEqual([]);

    // A change to the graph (the group's roles) reaches every subject: both reload.
    await lookup(b.id);
    before = { ...stats };
    await services.groups.unassignRole(owner, group.id, 'operator');
    expect(await lookup(a.id)).toEqual([...capsOf('viewer')].sort());
    await lookup(b.id);
    expect(stats.misses).toBe(before.misses + 2);
  });
});
