import { ALL_CAPABILITY_IDS } from './capabilities.ts';
import { closeUnderRequires } from './closure.ts';

export interface SystemRoleDef {
  readonly slug: 'owner' | 'administrator' | 'operator' | 'viewer';
  readonly name: string;
  readonly description: string;
  readonly capabilities: readonly string[];
}

/** The four system roles every tenant has. They can't be edited or deleted. */
export const SYSTEM_ROLES: readonly SystemRoleDef[] = Object.freeze([
  {
    slug: 'owner',
    name: 'Owner',
    description: 'Full control of the tenant, including ownership transfer.',
    capabilities: ALL_CAPABILITY_IDS,
  },
  {
    slug: 'administrator',
    name: 'Administrator',
    description: 'Everything except tenant-level operations.',
    capabilities: ALL_CAPABILITY_IDS.filter((id) => !id.startsWith('tenant:')),
  },
  {
    slug: 'operator',
    name: 'Operator',
    description: 'Day-to-day user support and incident response.',
    capabilities: closeUnderRequires([
      'users:view',
      'users:reset_password',
      'users:mfa_reset',
      'users:suspend',
      'users:revoke_sessions',
      'applications:view',
      'applications:rotate_secret',
      'audit:read',
      'audit:export',
      'mfa:view',
      'mfa:recover',
      'threat_intel:view',
      'threat_intel:test_ip',
      'reports:view',
    ]),
  },
  {
    slug: 'viewer',
    name: 'Viewer',
    description: 'Read-only access to the console.',
    capabilities: closeUnderRequires([
      'users:view',
      'applications:view',
      'audit:read',
      'reports:view',
      'authentication:view',
      'mfa:view',
      'branding:view',
    ]),
  },
]);

export const SYSTEM_ROLE_SLUGS: ReadonlySet<string> = new Set(SYSTEM_ROLES.map((r) => r.slug));
