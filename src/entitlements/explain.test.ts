import { describe, expect, it } from 'vitest';
import { explainEntitlement, groupChains } from './explain.ts';
import { resolveEntitlement, type TenantGraph } from './resolve.ts';

const now = 1_000_000;

// Roles are stored closed under `requires`, as the role service writes them.
const graph = (over: Partial<TenantGraph> = {}): TenantGraph => ({
  roleCapabilities: new Map([
    ['r-view', ['users:view']],
    ['r-export', ['audit:export', 'audit:read']],
  ]),
  groupParents: new Map(),
  groupRoles: new Map(),
  ...over,
});

describe('explainEntitlement', () => {
  it('lists direct, group-chain and dependency paths', () => {
    const g = graph({
      groupParents: new Map([['leaf', ['root']]]),
      groupRoles: new Map([['root', [{ roleId: 'r-export', expiresAt: null }]]]),
    });
    const out = explainEntitlement(g, { directRoles: [{ roleId: 'r-view', expiresAt: null }], groups: ['leaf'] }, now);
    expect(out).toEqual([
      { id: 'audit:export', paths: [{ type: 'group', groups: ['leaf', 'root'], roleId: 'r-export', chains: 1 }], path_count: 1 },
      {
        id: 'audit:read',
        paths: [
          { type: 'group', groups: ['leaf', 'root'], roleId: 'r-export', chains: 1 },
          { type: 'dependency', of: 'audit:export' },
        ],
        path_count: 2,
      },
      { id: 'users:view', paths: [{ type: 'direct', roleId: 'r-view' }], path_count: 1 },
    ]);
  });

  it('counts every chain when a group has several parents, and lists the shortest', () => {
    const g = graph({
      groupParents: new Map([
        ['leaf', ['a', 'b']],
        ['a', ['root']],
        ['b', ['root']],
      ]),
      groupRoles: new Map([['root', [{ roleId: 'r-view', expiresAt: null }]]]),
    });
    const [view] = explainEntitlement(g, { directRoles: [], groups: ['leaf'] }, now);
    expect(view!.paths).toEqual([{ type: 'group', groups: ['leaf', 'a', 'root'], roleId: 'r-view', chains: 2 }]);
    expect(view!.path_count).toBe(2);
  });

  it('terminates on cycles and reports each chain once', () => {
    const g = graph({
      groupParents: new Map([
        ['a', ['b']],
        ['b', ['a']],
      ]),
      groupRoles: new Map([['b', [{ roleId: 'r-view', expiresAt: null }]]]),
    });
    expect(groupChains(g, ['a'], now)).toEqual([{ groups: ['a', 'b'], roleId: 'r-view', expiresAt: null, chains: 1 }]);
    expect(explainEntitlement(g, { directRoles: [], groups: ['a'] }, now)[0]!.paths).toHaveLength(1);
  });

  it('ignores expired assignments, direct or through groups', () => {
    const g = graph({ groupRoles: new Map([['g', [{ roleId: 'r-export', expiresAt: now }]]]) });
    const subject = { directRoles: [{ roleId: 'r-view', expiresAt: now - 1 }], groups: ['g'] };
    expect(explainEntitlement(g, subject, now)).toEqual([]);
  });

  it('explains exactly the capabilities the resolver grants', () => {
    const g = graph({
      groupParents: new Map([['x', ['y']]]),
      groupRoles: new Map([['y', [{ roleId: 'r-export', expiresAt: now + 10 }]]]),
    });
    const subject = { directRoles: [{ roleId: 'r-view', expiresAt: null }], groups: ['x'] };
    expect(explainEntitlement(g, subject, now).map((c) => c.id)).toEqual(resolveEntitlement(g, subject, now).capabilities);
  });

  it('is linear on a ladder of nested groups whose chains double per layer (CHECKLIST 31)', () => {
    // Two groups per layer, each nested under both groups of the next layer; the role sits at the top.
    const layers = 60;
    const parents = new Map<string, string[]>();
    for (let l = 0; l < layers - 1; l++) for (const side of ['a', 'b']) parents.set(`${l}${side}`, [`${l + 1}a`, `${l + 1}b`]);
    const g = graph({ groupParents: parents, groupRoles: new Map([[`${layers - 1}a`, [{ roleId: 'r-view', expiresAt: null }]]]) });
    const [view] = explainEntitlement(g, { directRoles: [], groups: ['0a'] }, now);
    // 2^(layers - 2) chains reach the top group: counted (capped), not enumerated.
    expect(view!.path_count).toBe(Math.min(2 ** (layers - 2), Number.MAX_SAFE_INTEGER));
    expect(view!.paths).toHaveLength(1);
    expect(view!.paths[0]).toMatchObject({ type: "group", groups: expect.any(Array) });
    expect((view!.paths[0] as { groups: readonly string[] }).groups).toHaveLength(layers);
  });
});
