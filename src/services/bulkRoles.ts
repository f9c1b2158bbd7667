import { conflict, notFound, unprocessable } from '../errors/index.ts';
import { countRoleHolders } from '../queries/assignments.ts';
import { missingUserIds, userIdsMatching } from '../queries/bulkRoles.ts';
import { existingGroupIds } from '../queries/groups.ts';
import { findRoleBySlug } from '../queries/roles.ts';
import { OWNER } from './assignments.ts';
import { assertHolds, type Access } from './authority.ts';
import type { TenantChange } from './change.ts';
import type { JobService, JobView } from './jobs.ts';

/** Largest id list one bulk request may carry (SPEC §9). */
export const BULK_MAX_USERS = 100_000;

export type BulkAction = 'add' | 'remove';

export interface BulkRoleRequest {
  role: string;
  action: BulkAction;
  users?: readonly string[] | undefined;
  filter?: { group?: string | undefined; role?: string | undefined; status?: 'active' | 'suspended' | undefined } | undefined;
  /** For `add`: the same time-bound assignment a single add makes. */
  expires_at?: Date | null | undefined;
}

/** What the `jobs` row stores: the request with the filter already resolved to ids. */
export interface BulkRoleInput {
  role: string;
  role_id: string;
  action: BulkAction;
  users: string[];
  filter: BulkRoleRequest['filter'] | null;
  expires_at?: string | null;
  /**
   * What the actor held (token-limited) when it asked: the job acts with this
   * intersected with what the actor holds when it runs (SPEC §4, §9).
   */
  authority?: string[];
}

/**
 * Validates a bulk role change against the data (404s, escalation, last
 * Owner) and queues it. Nothing is touched here: the worker applies it.
 */
export function createBulkRoleRequests(deps: { change: TenantChange; jobs: JobService }) {
  const { change, jobs } = deps;
  return {
    async submit(access: Access, req: BulkRoleRequest): Promise<JobView> {
      const { tenantId } = access;
      if (req.expires_at && req.action === 'remove') throw unprocessable('invalid_expiry', 'expires_at applies to add only');
      if (req.expires_at && req.expires_at.getTime() <= Date.now()) throw unprocessable('invalid_expiry', 'expires_at must be in the future');
      const input = await change.read(async (tx): Promise<BulkRoleInput> => {
        const role = await findRoleBySlug(tx, tenantId, req.role);
        if (!role) throw notFound('role');
        let users: string[];
        if (req.users) {
          if ((await missingUserIds(tx, tenantId, req.users)).length) throw notFound('user');
          users = [...req.users];
        } else {
          const f = req.filter ?? {};
          if (f.group && !(await existingGroupIds(tx, tenantId, [f.group])).size) throw notFound('group');
          const byRole = f.role === undefined ? undefined : await findRoleBySlug(tx, tenantId, f.role);
          if (f.role !== undefined && !byRole) throw notFound('role');
          users = await userIdsMatching(tx, tenantId, { groupId: f.group, roleId: byRole?.id, status: f.status });
        }
        assertHolds(access, role.capabilities, `${req.action === 'add' ? 'assign' : 'unassign'} the role "${role.slug}"`);
        if (req.action === 'remove' && role.slug === OWNER && (await countRoleHolders(tx, tenantId, role.id, 'permanent', users)) === 0) {
          throw conflict('last_owner', 'this would leave the tenant without a permanent Owner user');
        }
        return {
          role: role.slug,
          role_id: role.id,
          action: req.action,
          users,
          filter: req.filter ?? null,
          expires_at: req.expires_at?.toISOString() ?? null,
          authority: [...access.held].sort(),
        };
      });
      return jobs.submit({ access, type: 'bulk_role_assignment', input, total: input.users.length });
    },
  };
}
