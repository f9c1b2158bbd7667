import { describe, expect, it } from 'vitest';
import { ALL_CAPABILITY_IDS, CAPABILITIES, CAPABILITY_BY_ID, closeUnderRequires, isClosed, SYSTEM_ROLES } from './index.ts';

describe('capability catalogue v2', () => {
  it('every requirement names a catalogue capability', () => {
    for (const cap of CAPABILITIES) for (const req of cap.requires) expect(CAPABILITY_BY_ID.has(req), `${cap.id} requires ${req}`).toBe(true);
  });

  it('every non-view capability requires its area view/read capability', () => {
    expect(CAPABILITY_BY_ID.get('users:edit')!.requires).toEqual(['users:view']);
    expect(CAPABILITY_BY_ID.get('audit:export')!.requires).toEqual(['audit:read']);
    expect(CAPABILITY_BY_ID.get('users:gdpr_delete')!.requires).toEqual(['users:delete', 'users:view']);
    expect(CAPABILITY_BY_ID.get('users:view')!.requires).toEqual([]);
  });

  it('marks status and reserved flags as the spec says', () => {
    expect(CAPABILITY_BY_ID.get('users:mfa_reset')!.status).toBe('in_flight');
    expect(CAPABILITY_BY_ID.get('users:view')!.status).toBe('available');
    expect(CAPABILITIES.filter((c) => c.area === 'mfa').every((c) => c.status === 'in_flight')).toBe(true);
    expect(CAPABILITIES.filter((c) => c.reserved).map((c) => c.id)).toEqual(['tenant:transfer_ownership', 'tenant:delete', 'tenant:billing']);
    expect(CAPABILITY_BY_ID.get('tenant:transfer_ownership')!.status).toBe('available');
  });

  it('closure adds transitive requirements and is idempotent', () => {
    expect(closeUnderRequires(['users:gdpr_delete'])).toEqual(['users:delete', 'users:gdpr_delete', 'users:view']);
    expect(closeUnderRequires(closeUnderRequires(['audit:export']))).toEqual(['audit:export', 'audit:read']);
    expect(isClosed(['audit:export'])).toBe(false);
  });
});

describe('system roles', () => {
  it('every system role is closed under requires', () => {
    for (const role of SYSTEM_ROLES) expect(isClosed(role.capabilities), role.slug).toBe(true);
  });

  it('match the SPEC §3 table exactly (the spec lists are already closed)', () => {
    const bySlug = Object.fromEntries(SYSTEM_ROLES.map((r) => [r.slug, r.capabilities]));
    expect(bySlug.owner).toEqual(ALL_CAPABILITY_IDS);
    expect(bySlug.administrator).toEqual(ALL_CAPABILITY_IDS.filter((c) => !c.startsWith('tenant:')));
    expect(bySlug.operator).toEqual(
      ['users:view', 'users:reset_password', 'users:mfa_reset', 'users:suspend', 'users:revoke_sessions', 'applications:view', 'applications:rotate_secret', 'audit:read', 'audit:export', 'mfa:view', 'mfa:recover', 'threat_intel:view', 'threat_intel:test_ip', 'reports:view'].sort(),
    );
    expect(bySlug.viewer).toEqual(['users:view', 'applications:view', 'audit:read', 'reports:view', 'authentication:view', 'mfa:view', 'branding:view'].sort());
  });
});
