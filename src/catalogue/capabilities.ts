/** `available`: the backend enforces it. `in_flight`: assignable and issued, not yet enforced anywhere. */
export type CapabilityStatus = 'available' | 'in_flight';

export interface Capability {
  /** The scope string, `area:action`. */
  readonly id: string;
  readonly area: string;
  readonly name: string;
  readonly description: string;
  readonly status: CapabilityStatus;
  /** Capabilities this one depends on (before closure). */
  readonly requires: readonly string[];
  /** Owner-only: never part of a custom role. */
  readonly reserved: boolean;
}

type Def = [action: string, name: string, description: string, opts?: { inFlight?: boolean; requires?: string[] }];

interface AreaDef {
  area: string;
  /** The area's base capability that every other one in the area requires. */
  base: string | null;
  reserved?: boolean;
  caps: Def[];
}

const AREAS: AreaDef[] = [
  {
    area: 'users',
    base: 'view',
    caps: [
      ['view', 'View users', 'See users, their groups, roles and sessions.'],
      ['create', 'Create users', 'Add users to the tenant.'],
      ['edit', 'Edit users', 'Change a user’s profile and email.'],
      ['suspend', 'Suspend users', 'Suspend and reactivate users; suspension ends their sessions.'],
      ['delete', 'Delete users', 'Delete users permanently.'],
      ['reset_password', 'Reset passwords', 'Set a new password for a user.'],
      ['mfa_reset', 'Reset MFA', 'Remove a user’s enrolled MFA factors.', { inFlight: true }],
      ['revoke_sessions', 'Revoke sessions', 'End one or all of a user’s sessions and refresh tokens.'],
      ['bulk', 'Bulk changes', 'Run bulk jobs over many users.'],
      ['gdpr_delete', 'GDPR erasure', 'Erase a user’s personal data.', { inFlight: true, requires: ['users:delete'] }],
    ],
  },
  {
    area: 'applications',
    base: 'view',
    caps: [
      ['view', 'View applications', 'See applications and their settings.'],
      ['create', 'Create applications', 'Register new applications.'],
      ['edit', 'Edit applications', 'Change redirect URIs and settings.'],
      ['rotate_secret', 'Rotate secrets', 'Issue a new client secret.'],
      ['disable', 'Disable applications', 'Disable and re-enable applications.'],
      ['delete', 'Delete applications', 'Delete applications permanently.'],
    ],
  },
  {
    area: 'authentication',
    base: 'view',
    caps: [
      ['view', 'View authentication settings', 'See sign-in policy and connections.'],
      ['configure_policy', 'Configure policy', 'Change password and session policy.', { inFlight: true }],
      ['manage_federation', 'Manage federation', 'Connect external identity providers.', { inFlight: true }],
      ['edit_flows', 'Edit flows', 'Change sign-in and sign-up flows.', { inFlight: true }],
      ['edit_actions', 'Edit actions', 'Change custom actions run during sign-in.', { inFlight: true }],
    ],
  },
  {
    area: 'mfa',
    base: 'view',
    caps: [
      ['view', 'View MFA', 'See MFA settings and enrolments.', { inFlight: true }],
      ['configure', 'Configure MFA', 'Change which factors are allowed or required.', { inFlight: true }],
      ['manage_factors', 'Manage factors', 'Enrol and remove factors for users.', { inFlight: true }],
      ['recover', 'Recover MFA', 'Help users who lost their factors.', { inFlight: true }],
    ],
  },
  {
    area: 'audit',
    base: 'read',
    caps: [
      ['read', 'Read audit log', 'Search and read audit events.'],
      ['export', 'Export audit log', 'Export audit events to a file.'],
      ['configure_streaming', 'Configure streaming', 'Stream audit events to an external sink.', { inFlight: true }],
    ],
  },
  {
    area: 'threat_intel',
    base: 'view',
    caps: [
      ['view', 'View threat intelligence', 'See threat signals.', { inFlight: true }],
      ['manage_feeds', 'Manage feeds', 'Add and remove threat feeds.', { inFlight: true }],
      ['test_ip', 'Test IP', 'Check an IP address against the feeds.', { inFlight: true }],
    ],
  },
  {
    area: 'branding',
    base: 'view',
    caps: [
      ['view', 'View branding', 'See the sign-in page branding.'],
      ['edit', 'Edit branding', 'Change the display name, logo URL and accent colour.'],
    ],
  },
  {
    area: 'reports',
    base: 'view',
    caps: [
      ['view', 'View reports', 'See usage reports.'],
      ['configure', 'Configure reports', 'Schedule and configure reports.', { inFlight: true }],
    ],
  },
  {
    area: 'members',
    base: null,
    caps: [
      ['invite', 'Invite members', 'Invite people to the tenant.', { inFlight: true }],
      ['change_roles', 'Change roles', 'Create, edit and delete custom roles; assign and unassign roles.'],
      ['remove', 'Remove members', 'Remove every role and group membership from a user.'],
    ],
  },
  {
    area: 'tenant',
    base: null,
    reserved: true,
    caps: [
      ['transfer_ownership', 'Transfer ownership', 'Make another user the tenant Owner.'],
      ['delete', 'Delete tenant', 'Delete the tenant and all its data.', { inFlight: true }],
      ['billing', 'Billing', 'Manage the tenant’s billing.', { inFlight: true }],
    ],
  },
];

function build(): Capability[] {
  const out: Capability[] = [];
  for (const { area, base, reserved = false, caps } of AREAS) {
    for (const [action, name, description, opts = {}] of caps) {
      const requires = new Set(opts.requires ?? []);
      // Every non-view capability requires its area's view/read one (SPEC §3).
      if (base && action !== base) requires.add(`${area}:${base}`);
      out.push(
        Object.freeze({
          id: `${area}:${action}`,
          area,
          name,
          description,
          status: opts.inFlight ? 'in_flight' : 'available',
          requires: Object.freeze([...requires].sort()),
          reserved,
        }),
      );
    }
  }
  return out;
}

/** Catalogue v2, in display order. */
export const CAPABILITIES: readonly Capability[] = Object.freeze(build());

/** Catalogue lookup by id. */
export const CAPABILITY_BY_ID: ReadonlyMap<string, Capability> = new Map(CAPABILITIES.map((c) => [c.id, c]));

/** Every capability id, sorted. */
export const ALL_CAPABILITY_IDS: readonly string[] = Object.freeze(CAPABILITIES.map((c) => c.id).sort());

export const CATALOGUE_VERSION = 2;
