import type { Logger } from '../log/index.ts';
import { QUEUE_NAMES, type Producers } from './queues.ts';

import type { ScheduleExpiry } from '../services/assignments.ts';

/** How often the sweep catches expired assignments whose delayed job was never enqueued (Redis down, bulk paths). */
export const SWEEP_EVERY_MS = 60_000;
const SWEEP_SCHEDULER_ID = 'assignment-expiry-sweep';

/**
 * One job per assignment and expiry: re-assigning with the same expiry adds
 * nothing, a changed expiry gets its own job (the old one then finds a
 * different row and does nothing). BullMQ ids may not contain ':'.
 */
export const expiryJobId = (subject: string, subjectId: string, roleId: string, expiresAt: Date): string =>
  `expiry-${subject}-${subjectId}-${roleId}-${expiresAt.getTime()}`;

/** The producer side of assignment expiry: a delayed job per assignment. */
export function createExpiryScheduler(deps: { producers: Producers; logger: Logger }): ScheduleExpiry {
  return async (tenantId, subject, subjectId, roleId, expiresAt) => {
    try {
      await deps.producers.add(
        QUEUE_NAMES.expiry,
        { kind: 'assignment', tenantId, subject, subjectId, roleId, expiresAt: expiresAt.toISOString() },
        { jobId: expiryJobId(subject, subjectId, roleId, expiresAt), delay: Math.max(0, expiresAt.getTime() - Date.now()) },
      );
    } catch (err) {
      // The assignment is committed and issuance already ignores it once expired; the sweep removes it later.
      deps.logger.warn({ err: (err as Error).message, tenantId, subject, subjectId, roleId }, 'could not schedule assignment expiry; the sweep will remove it');
    }
  };
}

/** Registers (or keeps) the repeatable sweep; safe to call from every worker process. */
export async function scheduleExpirySweep(producers: Producers): Promise<void> {
  await producers.queue(QUEUE_NAMES.expiry).upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: SWEEP_EVERY_MS }, { name: 'sweep', data: { kind: 'sweep' } });
}
