import type { Database } from '../db/client.ts';
import type { TenantVersions } from '../cache/tenantVersions.ts';
import type { Revocations } from '../sessions/revocations.ts';
import { createAuditLog, type AuditLog } from '../services/audit.ts';
import { createTenantChange, type TenantChange } from '../services/change.ts';
import { createAuditEventService } from '../services/auditEvents.ts';
import { createClientService } from '../services/clients.ts';
import { createGroupService } from '../services/groups.ts';
import { createRoleService } from '../services/roles.ts';
import { createTenantService } from '../services/tenants.ts';
import { createUserService } from '../services/users.ts';

/** Builds the business services once; everything that changes data goes through them. */
export function createServices(deps: { db: Database; versions: TenantVersions; revocations: Revocations }) {
  const audit: AuditLog = createAuditLog();
  const change: TenantChange = createTenantChange({ db: deps.db, versions: deps.versions });
  const roles = createRoleService({ change, audit });
  return {
    audit,
    change,
    roles,
    users: createUserService({ db: deps.db, change, audit, roles, revocations: deps.revocations }),
    clients: createClientService({ db: deps.db, change, audit, roles }),
    groups: createGroupService({ db: deps.db, change, audit, roles }),
    tenants: createTenantService({ change, audit }),
    auditEvents: createAuditEventService({ change }),
  };
}

export type Services = ReturnType<typeof createServices>;
