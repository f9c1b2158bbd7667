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
    expect(ok).toEqual({ ok: true, events: 7, unchained: 0 });
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

    const original = await db.execute(sql`select data from audit_events where tenant_id = ${t.tenantId} and seq = 7`);
    await db.execute(sql`update audit_events set data = '{"role":"owner"}'::jsonb where tenant_id = ${t.tenantId} and seq = 7`);
    expect(await audit.verifyChain(db, t.tenantId)).toMatchObject({ ok: false, brokenAtSeq: 7, reason: 'event hash mismatch' });
    // Put back, so the tests below start from a chain that verifies.
    const data = (original as unknown as { rows: { data: unknown }[] }).rows[0]!.data;
    await db.execute(sql`update audit_events set data = ${JSON.stringify(data)}::jsonb where tenant_id = ${t.tenantId} and seq = 7`);
    expect(await audit.verifyChain(db, t.tenantId)).toEqual({ ok: true, events: 7, unchained: 0 });
  });

  it('changes take no chain lock: concurrent changes all commit, and each returns with its events chained in one unbroken chain', async () => {
    const { services, audit, db } = t.server.core;
    const owner = ownerAccess(t.tenantId);
    const before = await audit.verifyChain(db, t.tenantId);
    const users = await Promise.all(Array.from({ length: 24 }, (_, i) => services.users.create(owner, { email: `concurrent-${i}@example.test` })));
    // Each change returned only after its own events were chained: every one has a seq already.
    const created = await db.execute(
      sql`select target_id, seq from audit_events where tenant_id = ${t.tenantId} and action = 'user.created' and target_id in (${sql.join(users.map((u) => sql`${u.id}`), sql`, `)})`,
    );
    const rows = (created as unknown as { rows: { target_id: string; seq: string | null }[] }).rows;
    expect(rows).toHaveLength(24);
    expect(rows.every((r) => r.seq !== null)).toBe(true);
    expect(await audit.verifyChain(db, t.tenantId)).toEqual({ ok: true, events: before.events + 24, unchained: 0 });
  });

  it('a failed change leaves neither the change nor its event', async () => {
    const { services, audit, db } = t.server.core;
    const before = await audit.verifyChain(db, t.tenantId);
    await expect(services.users.create(ownerAccess(t.tenantId), { email: 'CHAIN@example.test' })).rejects.toMatchObject({ status: 409, code: 'email_taken' });
    const after = await audit.verifyChain(db, t.tenantId);
    expect(after.events).toBe(before.events);
  });

  it('an event left unchained by a crash after its commit is reported, then chained by the sweep; a deleted event breaks the chain', async () => {
    const { audit, db } = t.server.core;
    const before = await audit.verifyChain(db, t.tenantId);
    // What a process that died between the commit and the chainer leaves behind: a committed event without its link.
    await db.execute(sql`insert into audit_events (id, tenant_id, at, actor_type, action, data) values (gen_random_uuid(), ${t.tenantId}, now() - interval '1 minute', 'system', 'crash.test', '{}'::jsonb)`);
    expect(await audit.verifyChain(db, t.tenantId)).toEqual({ ok: true, events: before.events, unchained: 1 });
    expect(await audit.sweep()).toBeGreaterThanOrEqual(1);
    expect(await audit.verifyChain(db, t.tenantId)).toEqual({ ok: true, events: before.events + 1, unchained: 0 });

    const middle = Math.ceil(before.events / 2);
    await db.execute(sql`delete from audit_events where tenant_id = ${t.tenantId} and seq = ${middle}`);
    expect(await audit.verifyChain(db, t.tenantId)).toMatchObject({ ok: false, brokenAtSeq: middle, reason: 'missing event' });
  });
});
