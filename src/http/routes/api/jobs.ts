import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../../../errors/index.ts';
import type { JobService, JobView } from '../../../services/jobs.ts';
import type { Principal } from '../../api/principal.ts';
import { route, STREAMED, type RouteDef } from '../../api/route.ts';
import { uuid } from './schemas.ts';

/** The capability that lets a caller see a job of each type. */
const NEEDS: Record<JobView['type'], string> = { bulk_role_assignment: 'users:bulk', audit_export: 'audit:export' };

function assertMaySee(principal: Principal, job: JobView): void {
  if (!principal.scopes.has(NEEDS[job.type])) throw new AppError(403, 'insufficient_scope', `this job needs ${NEEDS[job.type]}`);
}

export const jobSchema = z.object({
  id: z.string(),
  type: z.enum(['bulk_role_assignment', 'audit_export']),
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  progress: z.object({ done: z.number(), total: z.number() }),
  result: z.unknown(),
  error: z.string().nullable(),
  created_at: z.string(),
  finished_at: z.string().nullable(),
});

const POLL_MS = 500;

/** Job status, and the same as a progress stream (SSE) until the job finishes. */
export function jobRoutes(deps: { jobs: JobService }): RouteDef[] {
  const { jobs } = deps;
  return [
    route({
      method: 'get',
      path: '/jobs/:id',
      tag: 'jobs',
      summary: 'Status, progress (done/total) and result of a job',
      capabilities: [],
      params: z.strictObject({ id: uuid }),
      response: jobSchema,
      handler: async ({ principal, access, params }) => {
        const job = await jobs.get(access, params.id);
        assertMaySee(principal, job);
        return job;
      },
    }),
    route({
      method: 'get',
      path: '/jobs/:id/events',
      tag: 'jobs',
      summary: 'Progress of a job as Server-Sent Events, ending when the job finishes',
      capabilities: [],
      params: z.strictObject({ id: uuid }),
      produces: 'text/event-stream',
      handler: async ({ principal, access, params, ctx }) => {
        const first = await jobs.get(access, params.id);
        assertMaySee(principal, first);
        const out = new PassThrough();
        out.on('error', () => undefined);
        let last = '';
        let stopped = false;
        const push = (job: JobView) => {
          const data = JSON.stringify(job);
          if (data === last) return;
          last = data;
          out.write(`event: ${job.status === 'completed' || job.status === 'failed' ? 'done' : 'progress'}\ndata: ${data}\n\n`);
        };
        // Polling the durable row works from any process, whichever worker runs the job.
        const loop = async () => {
          let job = first;
          while (!stopped) {
            push(job);
            if (job.status === 'completed' || job.status === 'failed') break;
            await new Promise((r) => setTimeout(r, POLL_MS));
            job = await jobs.get(access, params.id).catch(() => job);
          }
          clearTimeout(expiry);
          if (!out.writableEnded) out.end();
        };
        // Like the revocation feed, the stream ends when the token that opened it expires (SPEC §7):
        // a subscriber whose access was revoked stops hearing; a live one reconnects with a fresh token.
        const expiry = setTimeout(() => {
          stopped = true;
          out.end();
        }, Math.max(0, principal.expiresAt * 1000 - Date.now()));
        expiry.unref();
        ctx.res.once('close', () => {
          stopped = true;
          clearTimeout(expiry);
        });
        ctx.req.socket.setTimeout(0);
        ctx.status = 200;
        ctx.type = 'text/event-stream';
        ctx.set('Cache-Control', 'no-cache, no-transform');
        ctx.body = out;
        void loop();
        return STREAMED;
      },
    }),
  ];
}
