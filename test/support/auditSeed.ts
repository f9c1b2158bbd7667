import { sql } from 'drizzle-orm';
import type { Executor } from '../../src/db/client.ts';

/**
 * Appends `n` synthetic audit events to a tenant in one statement, after its
 * newest seq. The hashes only look like hashes (exports do not verify the
 * chain); actions, actors and data vary so filters and CSV quoting have work.
 */
export async function seedAuditEvents(db: Executor, tenantId: string, n: number): Promise<void> {
  await db.execute(sql`
    insert into audit_events (id, tenant_id, seq, at, actor_type, actor_id, action, target_type, target_id, data, parent_id, request_id, prev_hash, hash)
    select gen_random_uuid(), ${tenantId}, b.base + i, now() - make_interval(secs => ${n} - i),
      'user', 'u-' || (i % 7),
      case i % 3 when 0 then 'user.updated' when 1 then 'role.assigned' else 'group.created' end,
      'user', 'target-' || (i % 5),
      jsonb_build_object('i', i, 'note', 'comma, "quote"' || chr(10) || 'line ' || i, 'z', jsonb_build_array(i, 'ü')),
      null, 'req-' || i, md5(i::text) || md5((i + 1)::text), md5(i::text || 'h') || md5(i::text)
    from generate_series(1, ${n}) i, (select coalesce(max(seq), 0) as base from audit_events where tenant_id = ${tenantId}) b`);
}
