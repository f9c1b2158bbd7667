import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerAccess } from '../support/access.ts';
import { startTessera, type TestTessera } from '../support/tessera.ts';

let t: TestTessera;
beforeAll(async () => {
  t = await startTessera();
});
afterAll(() => t?.close());

describe('audit hash chain', () => {
  it('records bootstrap and every change in order, and verification detects a tampered row', async () => {
    const { services, audit, db } = t.server.core;
    const user = await services.users.create(ownerAccess(t.tenantId), { email: 'chain@example.test' });
    await services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id: user.id });
    // An idempotent repeat changes nothing and records nothing.
    expect(await services.roles.assign(ownerAccess(t.tenantId), 'viewer', { type: 'user', id: user.id })).toBe(false);

    const ok = await audit.verifyChain(db, t.tenantId);
    expect(ok).toEqual({ ok: true, events: 7 });
    const actions = await db.execute(sql`select action from audit_events where tenant_id = ${t.tenantId} order by seq`);
    expect((actions as unknown as { rows: { action: string }[] }).rows.map((r) => r.action)).toEqual([
      'tenant.created',
      'user.created',
      'application.created',
      // Bootstrap assigns Owner through the assignment engine: one event per subject.
      'role.assigned',
      'role.assigned',
      'user.created',
      'role.assigned',
    ]);

    await db.execute(sql`update audit_events set data = '{"role":"owner"}'::jsonb where tenant_id = ${t.tenantId} and seq = 7`);
    expect(await audit.verifyChain(db, t.tenantId)).toMatchObject({ ok: false, brokenAtSeq: 7, reason: 'event hash mismatch' });
  });

  it('a failed change leaves neither the change nor its event', async () => {
    const { services, audit, db } = t.server.core;
    const before = await audit.verifyChain(db, t.tenantId);
    await expect(services.users.create(ownerAccess(t.tenantId), { email: 'CHAIN@example.test' })).rejects.toMatchObject({ status: 409, code: 'email_taken' });
    const after = await audit.verifyChain(db, t.tenantId);
    expect(after.events).toBe(before.events);
  });
});
