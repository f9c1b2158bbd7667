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
      { id: 'audit:export', paths: [{ type: 'group', groups: ['leaf', 'root'], roleId: 'r-export' }] },
      {
        id: 'audit:read',
        paths: [
          { type: 'group', groups: ['leaf', 'root'], roleId: 'r-export' },
          { type: 'dependency', of: 'audit:export' },
        ],
      },
      { id: 'users:view', paths: [{ type: 'direct', roleId: 'r-view' }] },
    ]);
  });

  it('reports every chain when a group has several parents', () => {
    const g = graph({
      groupParents: new Map([
        ['leaf', ['a', 'b']],
        ['a', ['root']],
        ['b', ['root']],
      ]),
      groupRoles: new Map([['root', [{ roleId: 'r-view', expiresAt: null }]]]),
    });
    const [view] = explainEntitlement(g, { directRoles: [], groups: ['leaf'] }, now);
    expect(view!.paths).toEqual([
      { type: 'group', groups: ['leaf', 'a', 'root'], roleId: 'r-view' },
      { type: 'group', groups: ['leaf', 'b', 'root'], roleId: 'r-view' },
    ]);
  });

  it('terminates on cycles and reports each chain once', () => {
    const g = graph({
      groupParents: new Map([
        ['a', ['b']],
        ['b', ['a']],
      ]),
      groupRoles: new Map([['b', [{ roleId: 'r-view', expiresAt: null }]]]),
    });
    expect(groupChains(g, ['a'], now)).toEqual([{ groups: ['a', 'b'], roleId: 'r-view', expiresAt: null }]);
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

  it('bounds the number of chains', () => {
    const g = graph({ groupRoles: new Map([['g', [{ roleId: 'r-view', expiresAt: null }, { roleId: 'r-export', expiresAt: null }]]]) });
    expect(groupChains(g, ['g'], now, 1)).toHaveLength(1);
  });
});
