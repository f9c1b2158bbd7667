import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../../../errors/index.ts';
import type { RevocationEvent } from '../../../sessions/feed.ts';
import { compareStreamIds, STREAM_ID, type FeedHub } from '../../../sessions/feedHub.ts';
import { route, STREAMED, type RouteDef } from '../../api/route.ts';

/** Proxies drop idle connections after about 30-60 s; a comment line every 15 s keeps the stream open. */
const HEARTBEAT_MS = 15_000;

const streamId = z.string().regex(STREAM_ID, 'a stream entry id such as 1700000000000-0');

const frame = (e: RevocationEvent) => `id: ${e.id}\nevent: revocation\ndata: ${JSON.stringify({ sub: e.sub, tid: e.tid, revoked_at: e.revoked_at })}\n\n`;

/**
 * Streams one tenant's revocations as Server-Sent Events. It subscribes
 * before it replays, buffering live events meanwhile, so an event published
 * during the replay is neither lost nor sent twice.
 */
async function openFeed(ctx: Context, hub: FeedHub, tenantId: string, resumeFrom: string | undefined, tokenExpiresAt: number): Promise<void> {
  const out = new PassThrough();
  // A write racing a disconnect must not crash the process; cleanup follows from 'close'.
  out.on('error', () => undefined);
  let last = resumeFrom;
  let buffered: RevocationEvent[] | undefined = [];
  const send = (e: RevocationEvent) => {
    if (last && compareStreamIds(e.id, last) <= 0) return;
    last = e.id;
    out.write(frame(e));
  };
  const unsubscribe = await hub.subscribe(tenantId, {
    onEvent: (e) => (buffered ? buffered.push(e) : send(e)),
    onClose: () => out.end(),
  });
  let replayed: RevocationEvent[];
  try {
    replayed = resumeFrom ? await hub.replay(tenantId, resumeFrom) : [];
  } catch (err) {
    unsubscribe();
    throw err;
  }

  const heartbeat = setInterval(() => out.write(': heartbeat\n\n'), HEARTBEAT_MS);
  // The stream ends when the token that opened it expires: a subscriber whose client was disabled, whose
  // capability was removed or whose sessions were revoked can't listen on; a live one reconnects with a
  // fresh token and Last-Event-ID, losing nothing.
  const expiry = setTimeout(() => out.end(), Math.max(0, tokenExpiresAt * 1000 - Date.now()));
  const cleanup = () => {
    clearInterval(heartbeat);
    clearTimeout(expiry);
    unsubscribe();
  };
  ctx.res.once('close', cleanup);
  out.once('close', cleanup);
  // The connection lives as long as the client wants it; Node's socket timeout must not cut it.
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = out;
  // Something to flush at once, so the client sees the stream open before the first event.
  out.write(': connected\nretry: 2000\n\n');
  for (const e of replayed) send(e);
  const pending = buffered;
  buffered = undefined;
  for (const e of pending) send(e);
}

/** The revocation feed (SPEC §7): resource servers follow it to refuse tokens before they expire. */
export function revocationRoutes(deps: { hub: FeedHub }): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/revocations/stream',
      tag: 'sessions',
      summary: 'Follow revocations of the tenant as Server-Sent Events; resume with Last-Event-ID or ?since=<event id>',
      capabilities: ['users:view'],
      query: z.strictObject({ since: streamId.optional() }),
      produces: 'text/event-stream',
      response: z.string().describe('`event: revocation` entries whose `id` is the resume point and whose `data` is {"sub","tid","revoked_at"}'),
      handler: async ({ principal, query, ctx }) => {
        const header = ctx.get('last-event-id') || undefined;
        if (header !== undefined && !STREAM_ID.test(header)) throw new AppError(400, 'validation_failed', 'Last-Event-ID is not a revocation event id');
        await openFeed(ctx, deps.hub, principal.tenantId, header ?? query.since, principal.expiresAt);
        return STREAMED;
      },
    }),
  ];
}
