import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job, type Processor } from 'bullmq';
import type { Database, Tx } from '../../db/client.ts';
import { ALL_CAPABILITY_IDS } from '../../catalogue/index.ts';
import { AppError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { countRoleHolders } from '../../queries/assignments.ts';
import { actorIsActive, auditEventExists, lockJobCheckpoint, missingUserIds } from '../../queries/bulkRoles.ts';
import { updateJob, type JobRow } from '../../queries/jobs.ts';
import { findRoleBySlug, type RoleRow } from '../../queries/roles.ts';
import { OWNER, type AssignmentEngine } from '../../services/assignments.ts';
import type { Actor, AuditLog } from '../../services/audit.ts';
import { missingFrom, reachOf, type Access } from '../../services/authority.ts';
import type { BulkRoleInput } from '../../services/bulkRoles.ts';
import type { TenantChange } from '../../services/change.ts';
import type { JobService } from '../../services/jobs.ts';
import type { BulkRolePayload } from '../queues.ts';

/** Users per transaction: each batch commits its rows, their child events and the checkpoint together. */
export const BULK_BATCH_SIZE = 5_000;
/** The result lists at most this many failures; `failed_count` has them all. */
const FAILED_LIST_MAX = 1_000;

export interface BulkResult {
  changed: number;
  unchanged: number;
  failed: { user: string; reason: string }[];
  failed_count: number;
}

const EMPTY: BulkResult = { changed: 0, unchanged: 0, failed: [], failed_count: 0 };
const tallyOf = (v: unknown): BulkResult => (v && typeof v === 'object' && 'changed' in v ? { ...EMPTY, ...(v as BulkResult) } : { ...EMPTY, failed: [] });

interface Denial {
  code: string;
  reason: string;
}

interface Deps {
  db: Database;
  logger: Logger;
  services: { jobs: JobService; audit: AuditLog; change: TenantChange; assignments: AssignmentEngine };
}

/**
 * Applies a bulk role change exactly once in effect. The parent audit event
 * has the job's id; each batch is one transaction holding its assignment
 * rows, its child events and the checkpoint (`progress_done`, running tally)
 * in the `jobs` row, which is locked first. A retry after a crash resumes
 * from the committed checkpoint in Postgres, so nothing is done twice or skipped.
 */
export function bulkRoleProcessor(deps: Deps): Processor<BulkRolePayload> {
  const { db, services } = deps;
  const { audit } = services;

  /**
   * The job's Access (SPEC §4, §9): the authority recorded when it was asked
   * for, intersected with what the actor holds now. A system job keeps the
   * authority it was given.
   */
  async function runtimeAccess(row: JobRow, input: BulkRoleInput): Promise<Access | Denial> {
    const actor: Actor = { type: row.actorType, id: row.actorId };
    const recorded = new Set(input.authority ?? ALL_CAPABILITY_IDS);
    if (row.actorType === 'system') return { tenantId: row.tenantId, actor, held: recorded };
    const kind = row.actorType;
    if (!row.actorId || !(await actorIsActive(db, row.tenantId, kind, row.actorId))) {
      return { code: 'actor_inactive', reason: `the ${kind} who asked for this change is suspended, disabled or deleted` };
    }
    const now = (await reachOf(db, row.tenantId, [{ type: kind, id: row.actorId }])).get(`${kind}:${row.actorId}`) ?? [];
    return { tenantId: row.tenantId, actor, held: new Set(now.filter((c) => recorded.has(c))) };
  }

  /** SPEC §4 again, at run time: the actor may have lost rights since the request. */
  async function recheck(row: JobRow, input: BulkRoleInput, role: RoleRow | undefined): Promise<Access | Denial> {
    if (!role || role.id !== input.role_id) return { code: 'role_gone', reason: `the role "${input.role}" no longer exists` };
    const access = await runtimeAccess(row, input);
    if ('code' in access) return access;
    const missing = missingFrom(access, [...(row.actorType === 'system' ? [] : ['members:change_roles', 'users:bulk']), ...role.capabilities]);
    if (missing.length) return { code: 'escalation_denied', reason: `the ${row.actorType} who asked for this change no longer holds ${missing.join(', ')}` };
    if (input.action === 'remove' && role.slug === OWNER && (await countRoleHolders(db, row.tenantId, role.id, 'permanent', input.users)) === 0) {
      return { code: 'last_owner', reason: 'this would leave the tenant without a permanent Owner user' };
    }
    return access;
  }

  const parentData = (row: JobRow, input: BulkRoleInput) => ({ role: input.role, action: input.action, total: input.users.length, job: row.id });

  /** Fails the job with one audit event and no change; never retried. */
  async function deny(row: JobRow, input: BulkRoleInput, actor: Actor, denial: Denial): Promise<never> {
    await db.transaction(async (tx) => {
      const cp = await lockJobCheckpoint(tx, row.id);
      if (!cp || cp.status === 'failed' || cp.status === 'completed') return;
      // Before any batch the denial is the job's one event (the parent id); after a crash it hangs under the parent.
      const started = await auditEventExists(tx, row.id);
      await audit.record(tx, row.tenantId, {
        id: started ? randomUUID() : row.id,
        parentId: started ? row.id : null,
        actor,
        action: 'bulk.role_assignment',
        target: { type: 'role', id: input.role },
        data: { ...parentData(row, input), outcome: 'denied', code: denial.code, reason: denial.reason },
      });
      await updateJob(tx, row.id, { status: 'failed', error: `${denial.code}: ${denial.reason}`, finishedAt: new Date() });
    });
    throw new UnrecoverableError(`${denial.code}: ${denial.reason}`);
  }

  async function writeParent(tx: Tx, row: JobRow, input: BulkRoleInput, actor: Actor): Promise<void> {
    if (await auditEventExists(tx, row.id)) return;
    await audit.record(tx, row.tenantId, { id: row.id, actor, action: 'bulk.role_assignment', target: { type: 'role', id: input.role }, data: parentData(row, input) });
  }

  /**
   * One batch from the committed checkpoint, through the assignment engine's
   * batched form (the same rows, checks and events as a single assignment);
   * returns the new checkpoint, or undefined when there is nothing left.
   */
  async function step(row: JobRow, input: BulkRoleInput, role: RoleRow, access: Access): Promise<{ done: number; tally: BulkResult } | undefined> {
    return services.change(row.tenantId, async (tx) => {
      const cp = await lockJobCheckpoint(tx, row.id);
      if (!cp || cp.status !== 'running' || cp.progressDone >= input.users.length) return undefined;
      const tally = tallyOf(cp.result);
      const ids = input.users.slice(cp.progressDone, cp.progressDone + BULK_BATCH_SIZE);
      const missing = new Set(await missingUserIds(tx, row.tenantId, ids));
      const set = { users: ids.filter((id) => !missing.has(id)) };
      const opts = { parentId: row.id, onDenied: 'skip' as const };
      const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
      const r = input.action === 'add' ? await services.assignments.assign(tx, access, role, set, expiresAt, opts) : await services.assignments.unassign(tx, access, role, set, opts);
      const failed = [...[...missing].map((user) => ({ user, reason: 'not_found' })), ...r.denied.map((d) => ({ user: d.id, reason: d.reason }))];
      tally.changed += r.changed.users.length;
      tally.unchanged += r.unchanged.users.length - r.denied.length;
      tally.failed_count += failed.length;
      for (const f of failed) if (tally.failed.length < FAILED_LIST_MAX) tally.failed.push(f);
      const done = cp.progressDone + ids.length;
      await updateJob(tx, row.id, { progressDone: done, result: tally });
      return { done, tally };
    });
  }

  return async (job: Job<BulkRolePayload>) => {
    const row = await services.jobs.load(job.data.jobId);
    if (!row || row.tenantId !== job.data.tenantId || row.type !== 'bulk_role_assignment') throw new UnrecoverableError('no such bulk role job');
    // A re-delivered job that already finished changes nothing.
    if (row.status === 'completed') return row.result;
    if (row.status === 'failed') throw new UnrecoverableError(row.error ?? 'the job has failed');
    const input = row.input as BulkRoleInput;
    const actor: Actor = { type: row.actorType, id: row.actorId };
    const role = await findRoleBySlug(db, row.tenantId, input.role);
    const access = await recheck(row, input, role);
    if ('code' in access) return deny(row, input, actor, access);
    await db.transaction(async (tx) => {
      const cp = await lockJobCheckpoint(tx, row.id);
      if (cp?.status !== 'queued' && cp?.status !== 'running') return;
      await writeParent(tx, row, input, actor);
      if (cp.status === 'queued') await updateJob(tx, row.id, { status: 'running' });
    });
    let tally = tallyOf(row.result);
    for (;;) {
      let next;
      try {
        next = await step(row, input, role!, access);
      } catch (err) {
        if (err instanceof AppError && err.code === 'last_owner') return deny(row, input, actor, { code: 'last_owner', reason: err.message });
        throw err;
      }
      if (!next) break;
      tally = next.tally;
      await job.updateProgress({ done: next.done, total: input.users.length }).catch(() => undefined);
    }
    const final = await services.jobs.load(row.id);
    if (final?.status !== 'running') return final?.result ?? null;
    tally = tallyOf(final.result);
    await services.jobs.complete(row.id, tally, input.users.length);
    return tally;
  };
}
