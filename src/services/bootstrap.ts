import { randomUUID } from 'node:crypto';
import type { Database } from '../db/client.ts';
import { insertClient } from '../queries/clients.ts';
import { lockBootstrap } from '../queries/keys.ts';
import { findTenantBySlug, insertTenant, hasAnyTenant, type TenantRow } from '../queries/tenants.ts';
import { insertUser } from '../queries/users.ts';
import { SYSTEM_ACTOR, type AuditLog } from './audit.ts';
import { generateClientSecret, generatePassword, hashClientSecret, hashPassword } from './credentials.ts';
import { createAssignmentEngine } from './assignments.ts';
import { systemAccess } from './authority.ts';
import { seedSystemRoles } from './roles.ts';

export interface BootstrapInput {
  tenant?: string | undefined;
  ownerEmail?: string | undefined;
  ownerPassword?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
}

/** What a first start created. Secrets appear here once and are never stored in clear. */
export interface BootstrapResult {
  tenant: TenantRow;
  owner: { id: string; email: string; password: string };
  client: { id: string; secret: string };
}

export const DEFAULT_TENANT = 'default';

/**
 * Creates a tenant with its system roles, an Owner user and an "admin
 * automation" service client holding Owner. Acts only when the tenant does
 * not exist yet; returns undefined otherwise. Safe to race across processes.
 */
export async function bootstrapTenant(deps: { db: Database; audit: AuditLog }, input: BootstrapInput): Promise<BootstrapResult | undefined> {
  const slug = input.tenant ?? DEFAULT_TENANT;
  const password = input.ownerPassword ?? generatePassword();
  const secret = input.clientSecret ?? generateClientSecret();
  const passwordHash = await hashPassword(password);
  return deps.db.transaction(async (tx) => {
    await lockBootstrap(tx);
    if (await findTenantBySlug(tx, slug)) return undefined;
    const tenant = (await insertTenant(tx, { id: randomUUID(), slug, displayName: slug }))!;
    const roles = await seedSystemRoles(tx, tenant.id);
    const ownerRole = roles.find((r) => r.slug === 'owner')!;
    const email = input.ownerEmail ?? `owner@${slug}.tessera.local`;
    const owner = await insertUser(tx, { id: randomUUID(), tenantId: tenant.id, email, displayName: 'Owner', passwordHash });
    const clientId = input.clientId ?? `${slug}-admin-automation`;
    await insertClient(tx, {
      id: clientId,
      tenantId: tenant.id,
      name: 'Admin automation',
      type: 'service',
      firstParty: true,
      secretHash: hashClientSecret(secret),
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    await deps.audit.record(tx, tenant.id, [
      { actor: SYSTEM_ACTOR, action: 'tenant.created', target: { type: 'tenant', id: tenant.id }, data: { slug } },
      { actor: SYSTEM_ACTOR, action: 'user.created', target: { type: 'user', id: owner.id }, data: { email } },
      { actor: SYSTEM_ACTOR, action: 'application.created', target: { type: 'application', id: clientId }, data: { name: 'Admin automation', type: 'service' } },
    ]);
    // Through the assignment engine, like every other assignment: same rows, same events.
    await createAssignmentEngine({ audit: deps.audit }).assign(tx, systemAccess(tenant.id), ownerRole, { users: [owner.id], clients: [clientId] }, null);
    return { tenant, owner: { id: owner.id, email, password }, client: { id: clientId, secret } };
  });
}

/** True when no tenant exists yet (a true first start). */
export async function isFirstStart(db: Database): Promise<boolean> {
  return !(await hasAnyTenant(db));
}

/**
 * The text printed once after bootstrap. Credentials the operator supplied
 * (`supplied`) are not echoed: they are already in their secret store, and
 * stdout usually ends up in a log pipeline. Generated ones are shown, once.
 */
export function formatBootstrap(issuer: string, r: BootstrapResult, supplied: { ownerPassword?: boolean; clientSecret?: boolean } = {}): string {
  const generated = !supplied.ownerPassword || !supplied.clientSecret;
  return [
    '',
    generated ? '  Tessera is bootstrapped. Generated credentials are shown once; store them now.' : '  Tessera is bootstrapped with the credentials you supplied.',
    '',
    `  Console:         ${issuer}/console  (sign in with the Owner email and password)`,
    `  Issuer:          ${issuer}`,
    `  Tenant:          ${r.tenant.slug} (${r.tenant.id})`,
    `  Owner email:     ${r.owner.email}`,
    `  Owner password:  ${supplied.ownerPassword ? '(from TESSERA_BOOTSTRAP_OWNER_PASSWORD)' : r.owner.password}`,
    `  Admin client id: ${r.client.id}`,
    `  Client secret:   ${supplied.clientSecret ? '(from TESSERA_BOOTSTRAP_CLIENT_SECRET)' : r.client.secret}`,
    '',
    `  Try: curl -u '${r.client.id}:<secret>' -d grant_type=client_credentials ${issuer}/token`,
    '',
  ].join('\n');
}
