import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
import { roleHolderIds } from './assignments.ts';
import type { JobRow } from './jobs.ts';

/**
 * Set-based queries of the bulk role change. Id lists travel as ONE array
 * parameter (`$1::uuid[]`), never one parameter per id, so 100,000 ids fit in
 * a statement and cost one round trip.
 */
const uuidArray = (ids: readonly string[]) => sql`${`{${ids.join(',')}}`}::uuid[]`;

/** The ids that are not users of the tenant (unknown, or in another tenant). */
export async function missingUserIds(db: Executor, tenantId: string, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  const res = await rows<{ id: string }>(
    db,
    sql`select x.id from unnest(${uuidArray(ids)}) as x(id)
        where not exists (select 1 from users u where u.id = x.id and u.tenant_id = ${tenantId})`,
  );
  return res.map((r) => r.id);
}

export interface UserFilter {
  /** Direct members of this group. */
  groupId?: string | undefined;
  /** Users holding this role now, directly or through a group (as the user list's `role` filter). */
  roleId?: string | undefined;
  status?: 'active' | 'suspended' | undefined;
}

/** The tenant's users matching every given condition, in a stable order. */
export async function userIdsMatching(db: Executor, tenantId: string, f: UserFilter): Promise<string[]> {
  const res = await rows<{ id: string }>(
    db,
    sql`select u.id from users u where u.tenant_id = ${tenantId}
        ${f.status ? sql`and u.status = ${f.status}` : sql``}
        ${f.groupId ? sql`and exists (select 1 from group_members m where m.group_id = ${f.groupId} and m.user_id = u.id)` : sql``}
        ${f.roleId ? sql`and u.id in (${roleHolderIds(sql`${f.roleId}::uuid`)})` : sql``}
        order by u.id`,
  );
  return res.map((r) => r.id);
}

/** Locks a job row for the rest of the transaction and returns its checkpoint. */
export async function lockJobCheckpoint(tx: Executor, id: string): Promise<Pick<JobRow, 'status' | 'progressDone' | 'result'> | undefined> {
  const [row] = await rows<{ status: JobRow['status']; progress_done: number; result: unknown }>(
    tx,
    sql`select status, progress_done, result from jobs where id = ${id} for update`,
  );
  return row && { status: row.status, progressDone: row.progress_done, result: row.result };
}

export async function auditEventExists(db: Executor, id: string): Promise<boolean> {
  const res = await rows<{ ok: boolean }>(db, sql`select exists(select 1 from audit_events where id = ${id}) as ok`);
  return Boolean(res[0]?.ok);
}

/** Is the subject still able to act: an active user, or an enabled service client, of the tenant? */
export async function actorIsActive(db: Executor, tenantId: string, type: 'user' | 'client', id: string): Promise<boolean> {
  const res =
    type === 'user'
      ? await rows<{ ok: boolean }>(db, sql`select exists(select 1 from users where id = ${id}::uuid and tenant_id = ${tenantId} and status = 'active') as ok`)
      : await rows<{ ok: boolean }>(db, sql`select exists(select 1 from clients where id = ${id} and tenant_id = ${tenantId} and not disabled) as ok`);
  return Boolean(res[0]?.ok);
}
