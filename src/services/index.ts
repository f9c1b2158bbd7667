import type { Database } from '../db/client.ts';
import type { TenantVersions } from '../cache/tenantVersions.ts';
import type { Revocations } from '../sessions/revocations.ts';
import type { Redis } from 'ioredis';
import { createJobService, type JobQueue, type JobType } from './jobs.ts';
import type { RedisKeys } from '../redis/keys.ts';
import { createFeedPublisher } from '../sessions/feed.ts';
import { createPurger } from '../sessions/purge.ts';
import { createSessionService } from './sessions.ts';
import { createAuditLog, type AuditLog } from './audit.ts';
import { createTenantChange, type TenantChange } from './change.ts';
import { createAuditEventService } from './auditEvents.ts';
import { createClientService } from './clients.ts';
import { createConsoleService } from './console.ts';
import { createGroupService } from './groups.ts';
import { createRoleService } from './roles.ts';
import { createAssignmentEngine, type ScheduleExpiry } from './assignments.ts';
import { createTenantService } from './tenants.ts';
import { createUserService } from './users.ts';
import { createExpiryService } from './expiry.ts';
import type { Logger } from '../log/index.ts';
import type { TenantGraph } from '../entitlements/resolve.ts';
import { createAuditExportService, type AuditExportConfig } from './auditExports/index.ts';
import { createBulkRoleRequests } from './bulkRoles.ts';

/** Builds the business services once; everything that changes data goes through them. */
export function createServices(deps: { db: Database; redis: Redis; keys: RedisKeys; versions: TenantVersions; revocations: Revocations; producers: JobQueue; scheduleExpiry: ScheduleExpiry; jobLimits?: Partial<Record<JobType, number>>; idTokenAlgs?: readonly string[]; logger: Logger; exports: { driver: 'pg' | 'pglite'; config: AuditExportConfig }; tenantGraph?: (tenantId: string) => Promise<TenantGraph> }) {
  const audit: AuditLog = createAuditLog({ db: deps.db, onError: (err, tenantId) => deps.logger.error({ err, tenantId }, 'could not chain audit events; the sweep will retry') });
  const change: TenantChange = createTenantChange({ db: deps.db, versions: deps.versions });
  const assignments = createAssignmentEngine({ audit, scheduleExpiry: deps.scheduleExpiry });
  const roles = createRoleService({ change, audit, assignments });
  const feed = createFeedPublisher({ redis: deps.redis, keys: deps.keys });
  const sessions = createSessionService({ redis: deps.redis, keys: deps.keys, purger: createPurger(deps), revocations: deps.revocations, feed, change, audit });
  const jobs = createJobService({ db: deps.db, producers: deps.producers, limits: deps.jobLimits });
  const clients = createClientService({ db: deps.db, change, audit, sessions, ...(deps.idTokenAlgs ? { idTokenAlgs: deps.idTokenAlgs } : {}) });
  return {
    jobs,
    audit,
    change,
    roles,
    sessions,
    assignments,
    users: createUserService({ db: deps.db, change, audit, assignments, sessions, ...(deps.tenantGraph ? { tenantGraph: deps.tenantGraph } : {}) }),
    clients,
    console: createConsoleService({ db: deps.db, clients }),
    groups: createGroupService({ db: deps.db, change, audit, roles }),
    tenants: createTenantService({ change, audit }),
    auditEvents: createAuditEventService({ change }),
    bulkRoles: createBulkRoleRequests({ change, jobs }),
    auditExports: createAuditExportService({ db: deps.db, audit, jobs, ...deps.exports }),
    expiry: createExpiryService({ change, assignments }),
  };
}

export type Services = ReturnType<typeof createServices>;
