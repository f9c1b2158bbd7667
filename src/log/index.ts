import { pino, type DestinationStream, type Logger } from 'pino';
import { currentRequest } from '../runtime/requestContext.ts';

export type { Logger };

/**
 * Paths pino removes from every log line. Tokens, secrets and passwords must
 * never reach logs, whatever a caller passes in.
 */
const REDACT = [
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'code_verifier',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

/** Fields of a database error that describe it without carrying the values it was given. */
const SAFE_ERROR_FIELDS = ['code', 'severity', 'constraint', 'table', 'column', 'schema', 'routine', 'dataType'] as const;

/** A query's bound values follow "params:" in drizzle's message; cut them (and what follows) from a message or stack. */
const scrub = (text: unknown): string | undefined => (typeof text === 'string' ? text.replace(/\nparams:[\s\S]*?(?=\n\s+at |$)/, '\nparams: [not logged]') : undefined);

/**
 * The `err` serializer (CHECKLIST 38): type, message, stack and the database's
 * error code and constraint, never the statement's bound parameters (a
 * password hash, a client secret hash) nor `detail`, which quotes row values.
 * Causes are serialized the same way.
 */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!err || typeof err !== 'object') return { message: String(err) };
  const e = err as Record<string, unknown> & { constructor?: { name?: string } };
  // Postgres quotes the offending value in some messages ("invalid input syntax for type integer: \"…\""): not logged either.
  const fromDatabase = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
  const clean = (text: unknown) => (fromDatabase ? scrub(text)?.replace(/"(?:[^"\\]|\\.)*"/g, '"[value not logged]"') : scrub(text));
  const out: Record<string, unknown> = { type: e.constructor?.name ?? e.name, message: clean(e.message), stack: clean(e.stack) };
  for (const field of SAFE_ERROR_FIELDS) if (typeof e[field] === 'string') out[field] = e[field];
  if (e.cause && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

/**
 * Builds the process logger: structured JSON on stdout. Lines are written
 * asynchronously in batches (at 8 KiB or every 200 ms, and at exit), not one
 * synchronous write per line: at `info` every token request writes an access
 * log line, and a synchronous write each time cost about a tenth of the token
 * endpoint's throughput (bench/token). A process killed with SIGKILL can lose
 * the last 200 ms of lines; a normal exit, a crash and SIGTERM flush them.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: false, minLength: 8192, periodicFlush: 200 })): Logger {
  return pino({
    level,
    base: { service: 'tessera' },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line written while serving a request carries its id, not only the access log.
    mixin() {
      const requestId = currentRequest()?.requestId;
      return requestId ? { requestId } : {};
    },
  }, destination);
}
