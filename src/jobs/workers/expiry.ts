import { DelayedError, UnrecoverableError, type Processor } from 'bullmq';
import type { ExpiryService } from '../../services/expiry.ts';
import type { ExpiryPayload } from '../queues.ts';

/** Retry gap when a job arrives a moment before its assignment has expired (clock skew). */
const EARLY_RETRY_MS = 250;

/**
 * The assignment-expiry queue: one delayed job per time-bound assignment, plus
 * the periodic sweep, which also runs the other maintenance that must happen
 * whatever Redis lost (`afterSweep`: re-queueing lost jobs).
 */
export function expiryProcessor(deps: { expiry: ExpiryService; afterSweep?: () => Promise<unknown> }): Processor<ExpiryPayload> {
  return async (job, token) => {
    const payload = job.data;
    if (payload.kind === 'sweep') return { removed: await deps.expiry.sweep(), maintenance: await deps.afterSweep?.() };
    const expiresAt = new Date(payload.expiresAt);
    if (Number.isNaN(expiresAt.getTime())) throw new UnrecoverableError(`invalid expiresAt: ${payload.expiresAt}`);
    const outcome = await deps.expiry.expire({ ...payload, expiresAt });
    if (outcome === 'not_yet') {
      await job.moveToDelayed(Math.max(expiresAt.getTime(), Date.now() + EARLY_RETRY_MS), token);
      throw new DelayedError();
    }
    return { outcome };
  };
}
