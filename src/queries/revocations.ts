import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { revocations } from '../db/schema/index.ts';

/** The subject's revocation time, or undefined if never revoked. */
export async function findRevocation(db: Executor, tenantId: string, subject: string): Promise<Date | undefined> {
  const [row] = await db
    .select({ revokedAt: revocations.revokedAt })
    .from(revocations)
    .where(and(eq(revocations.tenantId, tenantId), eq(revocations.subject, subject)))
    .limit(1);
  return row?.revokedAt;
}

/** Records a revocation time; it only ever moves forward. */
export async function upsertRevocation(db: Executor, tenantId: string, subject: string, at: Date): Promise<void> {
  await db
    .insert(revocations)
    .values({ tenantId, subject, revokedAt: at })
    .onConflictDoUpdate({ target: [revocations.tenantId, revocations.subject], set: { revokedAt: sql`greatest(${revocations.revokedAt}, excluded.revoked_at)` } });
}
