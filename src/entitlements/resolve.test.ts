import { describe, expect, it } from 'vitest';
import { grantableScopes, reachableGroups, resolveEntitlement, type TenantGraph } from './resolve.ts';

const graph = (over: Partial<TenantGraph> = {}): TenantGraph => ({
  roleCapabilities: new Map([
    ['r-view', ['users:view']],
    ['r-export', ['audit:export']],
    ['r-brand', ['branding:edit']],
  ]),
  groupParents: new Map(),
  groupRoles: new Map(),
  ...over,
});

describe('resolveEntitlement', () => {
  const now = 1_000_000;

  it('unions direct and group roles and closes under requires', () => {
    const g = graph({ groupRoles: new Map([['g1', [{ roleId: 'r-export', expiresAt: null }]]]) });
    const out = resolveEntitlement(g, { directRoles: [{ roleId: 'r-view', expiresAt: null }], groups: ['g1'] }, now);
    expect(out.capabilities).toEqual(['audit:export', 'audit:read', 'users:view']);
    expect(out.validUntil).toBe(Number.POSITIVE_INFINITY);
  });

  it('follows nested groups through several parents', () => {
    const g = graph({
      groupParents: new Map([
        ['leaf', ['mid-a', 'mid-b']],
        ['mid-b', ['root']],
      ]),
      groupRoles: new Map([['root', [{ roleId: 'r-brand', expiresAt: null }]]]),
    });
    expect(resolveEntitlement(g, { directRoles: [], groups: ['leaf'] }, now).capabilities).toEqual(['branding:edit', 'branding:view']);
  });

  it('terminates on cycles', () => {
    const g = graph({
      groupParents: new Map([
        ['a', ['b']],
        ['b', ['a']],
      ]),
      groupRoles: new Map([['b', [{ roleId: 'r-view', expiresAt: null }]]]),
    });
    expect(reachableGroups(g, ['a'])).toEqual(new Set(['a', 'b']));
    expect(resolveEntitlement(g, { directRoles: [], groups: ['a'] }, now).capabilities).toEqual(['users:view']);
  });

  it('ignores expired assignments and reports when the result goes stale', () => {
    const g = graph({ groupRoles: new Map([['g', [{ roleId: 'r-brand', expiresAt: now + 500 }]]]) });
    const out = resolveEntitlement(g, { directRoles: [{ roleId: 'r-view', expiresAt: now }], groups: ['g'] }, now);
    expect(out.capabilities).toEqual(['branding:edit', 'branding:view']);
    expect(out.validUntil).toBe(now + 500);
    expect(resolveEntitlement(g, { directRoles: [], groups: ['g'] }, now + 500).capabilities).toEqual([]);
  });
});

describe('grantableScopes', () => {
  it('intersects with what the client may request; null allows everything', () => {
    expect(grantableScopes(['a:view', 'b:view'], null)).toEqual(['a:view', 'b:view']);
    expect(grantableScopes(['a:view', 'b:view'], ['b:view', 'c:view'])).toEqual(['b:view']);
  });
});
