import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db/client.ts';
import { clientRoles, groupRoles, roles, userRoles } from '../db/schema/index.ts';

export type AssignmentSubject = 'user' | 'group' | 'client';

/** One time-bound assignment, whichever table it lives in. */
export interface ExpiringAssignment {
  tenantId: string;
  subject: AssignmentSubject;
  subjectId: string;
  roleId: string;
  expiresAt: Date;
}

const TABLES = {
  user: { table: userRoles, column: sql.raw('user_id') },
  group: { table: groupRoles, column: sql.raw('group_id') },
  client: { table: clientRoles, column: sql.raw('client_id') },
} as const;

/** Up to `limit` assignments that have expired, across every tenant, oldest first. */
export async function listExpiredAssignments(db: Executor, limit: number): Promise<ExpiringAssignment[]> {
  const found = await rows<{ tenant_id: string; subject: AssignmentSubject; subject_id: string; role_id: string; expires_at: Date | string }>(
    db,
    sql`
    select * from (
      (select tenant_id, 'user' as subject, user_id::text as subject_id, role_id, expires_at from ${userRoles} where expires_at <= now() order by expires_at limit ${limit})
      union all
      (select tenant_id, 'group', group_id::text, role_id, expires_at from ${groupRoles} where expires_at <= now() order by expires_at limit ${limit})
      union all
      (select tenant_id, 'client', client_id::text, role_id, expires_at from ${clientRoles} where expires_at <= now() order by expires_at limit ${limit})
    ) expired order by expires_at limit ${limit}`,
  );
  return found.map((r) => ({ tenantId: r.tenant_id, subject: r.subject, subjectId: r.subject_id, roleId: r.role_id, expiresAt: new Date(r.expires_at) }));
}

/**
 * Deletes one assignment if it has expired and, when `expiresAt` is given,
 * still carries that expiry (to the millisecond: a re-assignment with another
 * expiry is a different assignment). Returns the role's slug and the expiry
 * it had, or undefined when there was nothing to delete.
 */
export async function deleteExpiredAssignment(
  db: Executor,
  a: { subject: AssignmentSubject; subjectId: string; roleId: string; expiresAt?: Date },
): Promise<{ slug: string; expiresAt: Date } | undefined> {
  const { table, column } = TABLES[a.subject];
  const sameExpiry = a.expiresAt ? sql`and date_trunc('milliseconds', a.expires_at) = ${a.expiresAt.toISOString()}::timestamptz` : sql``;
  const [row] = await rows<{ slug: string; expires_at: Date | string }>(
    db,
    sql`
    delete from ${table} a using ${roles} r
    where r.id = a.role_id and a.${column} = ${a.subjectId} and a.role_id = ${a.roleId}
      and a.expires_at <= now() ${sameExpiry}
    returning r.slug, a.expires_at`,
  );
  return row ? { slug: row.slug, expiresAt: new Date(row.expires_at) } : undefined;
}

/** The expiry an assignment carries now: undefined when there is no such row, null when it is permanent. */
export async function assignmentExpiry(db: Executor, a: { subject: AssignmentSubject; subjectId: string; roleId: string }): Promise<Date | null | undefined> {
  const { table, column } = TABLES[a.subject];
  const [row] = await rows<{ expires_at: Date | string | null }>(db, sql`select expires_at from ${table} where ${column} = ${a.subjectId} and role_id = ${a.roleId}`);
  if (!row) return undefined;
  return row.expires_at === null ? null : new Date(row.expires_at);
}
