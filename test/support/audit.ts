import { sql } from 'drizzle-orm';
import type { TestTessera } from './tessera.ts';

export interface AuditRowView {
  seq: number;
  action: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  data: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- event payloads vary by action
  parent_id: string | null;
}

/** Audit events of the test's tenant, oldest first, optionally for one action. */
export async function auditEvents(t: TestTessera, action?: string): Promise<AuditRowView[]> {
  const res = (await t.server.core.db.execute(sql`
    select seq, action, actor_type, actor_id, target_type, target_id, data, parent_id
    from audit_events where tenant_id = ${t.tenantId} ${action ? sql`and action = ${action}` : sql``} order by seq`)) as unknown as { rows: AuditRowView[] };
  return res.rows;
}
