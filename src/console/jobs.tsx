import { AppError, notFound } from '../errors/index.ts';
import type { Access } from '../services/authority.ts';
import type { Services } from '../services/index.ts';
import type { JobView } from '../services/jobs.ts';
import { JobPage, type JobSummary } from '../views/console/jobs.tsx';
import { type ConsoleContext, consolePage, type ConsolePage, send } from './core.ts';
import { UUID } from './users.tsx';

/** The capability that lets an admin see a job of each type (as the admin API's job routes). */
const NEEDS: Record<JobView['type'], string> = { bulk_role_assignment: 'users:bulk', audit_export: 'audit:export' };

const finished = (j: JobView) => j.status === 'completed' || j.status === 'failed';

async function summarise(services: Services, access: Access, job: JobView): Promise<JobSummary> {
  const base = {
    id: job.id,
    type: job.type,
    status: job.status,
    done: job.progress.done,
    total: job.progress.total,
    finished: finished(job),
    created_at: job.created_at,
    finished_at: job.finished_at,
    error: job.error,
  };
  const progress = job.progress.total ? `${job.progress.done.toLocaleString('en')} of ${job.progress.total.toLocaleString('en')}` : '';
  const words = { queued: 'Queued', running: 'Running', completed: 'Done', failed: 'Failed' }[job.status];
  if (job.type === 'bulk_role_assignment') {
    const r = (job.result ?? {}) as { changed?: number; unchanged?: number; failed?: Array<{ user: string; reason: string }>; failed_count?: number };
    return {
      ...base,
      summary: `${words}${progress ? `: ${progress} users` : ''}`,
      counts: finished(job) ? { changed: r.changed ?? 0, unchanged: r.unchanged ?? 0, failed: r.failed_count ?? 0, failures: r.failed ?? [] } : undefined,
    };
  }
  let download: JobSummary['download'];
  if (job.status === 'completed') {
    const row = await services.auditExports.get(access, job.id).catch(() => undefined);
    if (row?.filePath && row.expiresAt > new Date()) {
      download = { href: `/console/audit/exports/${row.id}/download`, rows: row.rowCount ?? 0, bytes: row.bytes ?? 0, sha256: row.sha256 ?? '', expires_at: row.expiresAt.toISOString() };
    }
  }
  return { ...base, summary: `${words}${progress ? `: ${progress} events` : ''}`, download };
}

export function jobPages(deps: { services: Services }): ConsolePage[] {
  const { services } = deps;
  const load = async (c: ConsoleContext): Promise<JobView> => {
    const id = c.ctx.params.id ?? '';
    if (!UUID.test(id)) throw notFound('job');
    const job = await services.jobs.get(c.access, id);
    if (!c.access.held.has(NEEDS[job.type])) throw new AppError(403, 'insufficient_scope', `this job needs ${NEEDS[job.type]}`);
    return job;
  };
  return [
    consolePage({
      method: 'GET',
      path: '/jobs/:id',
      needs: [],
      async handle(c) {
        send(c.ctx, <JobPage viewer={c.viewer} notice={c.notice} job={await summarise(services, c.access, await load(c))} />);
      },
    }),
    // The same as JSON, for the progress bar (console.js polls it; same origin, same session).
    consolePage({
      method: 'GET',
      path: '/jobs/:id/status',
      needs: [],
      async handle(c) {
        const s = await summarise(services, c.access, await load(c));
        c.ctx.body = { status: s.status, done: s.done, total: s.total, finished: s.finished, summary: s.summary };
      },
    }),
  ];
}
