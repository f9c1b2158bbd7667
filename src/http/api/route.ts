import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError, type FieldError } from '../../errors/index.ts';
import { cleanInput } from '../../text/index.ts';
import { missingFrom, type Access } from '../../services/authority.ts';
import type { Idempotency } from './idempotency.ts';
import { accessOf } from './access.ts';
import type { Principal } from './principal.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  /** The caller as every service takes it: the actor and what it holds, limited by the token. */
  access: Access;
  ctx: Context;
}

/**
 * One admin API operation. The same zod schemas validate requests and
 * generate the OpenAPI document, so the two cannot drift apart.
 */
export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Koa-style path under /api/v1, e.g. `/roles/:slug`. */
  path: string;
  summary: string;
  tag: string;
  /** Capability scopes the token must carry, all of them. */
  capabilities: readonly string[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response?: z.ZodType;
  /** Success status; defaults to 200, or 204 when the handler returns undefined. */
  status?: number;
  /** Largest accepted JSON body in bytes. */
  bodyLimit?: number;
  /** Media type of a success response that is not JSON (documented in OpenAPI); such a handler returns STREAMED. */
  produces?: string;
  handler(input: RouteInput<P, Q, B>): Promise<unknown>;
}

/**
 * Returned by a handler that has written the response itself (ctx.status,
 * ctx.type, ctx.body as a stream), such as a Server-Sent Events feed; the
 * mounter then leaves the response alone.
 */
export const STREAMED = Symbol('streamed');

/** Declares a route with its types inferred from the schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}

function fieldErrors(where: string, error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return {} as T;
  // One text normaliser for every string of every route (SPEC §8): NFC, and 400 for what it refuses.
  const cleaned = cleanInput(value);
  if (cleaned.problems.length) {
    throw new AppError(400, 'validation_failed', `the request ${where} is not valid`, {
      errors: cleaned.problems.map((p) => ({ path: [where, ...p.path].join('.'), message: p.message })),
    });
  }
  const result = schema.safeParse(cleaned.value);
  if (!result.success) throw new AppError(400, 'validation_failed', `the request ${where} is not valid`, { errors: fieldErrors(where, result.error) });
  return result.data;
}

/** Reads the raw request body once, with a size limit. */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  if (ctx.state.rawBody) return ctx.state.rawBody as Buffer;
  const length = Number(ctx.get('content-length') || 0);
  if (length > limit) throw new AppError(413, 'payload_too_large', `the body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError(413, 'payload_too_large', `the body exceeds ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  ctx.state.rawBody = Buffer.concat(chunks);
  return ctx.state.rawBody as Buffer;
}

/** Parses the JSON body; an empty body reads as `{}`. */
async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const raw = await readBody(ctx, limit);
  if (raw.length > limit) throw new AppError(413, 'payload_too_large', `the body exceeds ${limit} bytes`);
  if (raw.length === 0) return {};
  if (!ctx.is('application/json')) throw new AppError(415, 'unsupported_media_type', 'send the body as application/json');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError(400, 'malformed_json', 'the body is not valid JSON');
  }
}

/**
 * Registers route definitions on a Koa router: the route's capabilities in the
 * token, the caller's Access, the body within the route's limit, then (for a
 * POST with Idempotency-Key) a replay that only a caller who holds the route's
 * capabilities now can get, then validation and the handler.
 */
export function mountRoutes(router: Router, routes: readonly RouteDef[], opts: { idempotency?: Idempotency } = {}): void {
  for (const def of routes) {
    router[def.method](def.path, async (ctx) => {
      const principal = ctx.state.principal as Principal;
      const missing = def.capabilities.filter((c) => !principal.scopes.has(c));
      if (missing.length) {
        throw new AppError(403, 'insufficient_scope', `this operation requires ${missing.join(', ')}`, { required: def.capabilities });
      }
      const access = await accessOf(principal);
      const limit = def.bodyLimit ?? 256 * 1024;
      const raw = def.body || ctx.get('idempotency-key') ? await readBody(ctx, limit) : undefined;
      const run = raw && opts.idempotency ? await beginIdempotent(opts.idempotency, ctx, access, def, raw) : undefined;
      if (run?.replayed) return;
      try {
        const params = parse(def.params, ctx.params, 'params');
        const query = parse(def.query, ctx.query, 'query');
        const body = def.body ? parse(def.body, await readJson(ctx, limit), 'body') : undefined;
        const result = await def.handler({ params, query, body, principal, access, ctx });
        if (result === STREAMED) return;
        if (result === undefined) ctx.status = def.status ?? 204;
        else if (!def.response) {
          // The OpenAPI document says 204 for a route without a response schema; it must not answer a body.
          throw new Error(`${def.method.toUpperCase()} ${def.path} answered a body but declares no response schema`);
        } else {
          ctx.status = def.status ?? 200;
          ctx.body = result;
        }
      } catch (err) {
        await run?.release();
        throw err;
      }
      await run?.store(ctx.status, ctx.body);
    });
  }
}

/** A replay is the first answer again: only for a caller who still holds the route's capabilities (CHECKLIST 37). */
async function beginIdempotent(store: Idempotency, ctx: Context, access: Access, def: RouteDef, raw: Buffer) {
  const lost = missingFrom(access, def.capabilities);
  if (lost.length && ctx.get('idempotency-key')) throw new AppError(403, 'insufficient_scope', `this operation requires ${lost.join(', ')}`, { required: def.capabilities });
  return store.begin(ctx, access, raw);
}
