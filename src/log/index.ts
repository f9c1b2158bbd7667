import { pino, type Logger } from 'pino';
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

/** Builds the process logger: structured JSON on stdout. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tessera' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line written while serving a request carries its id, not only the access log.
    mixin() {
      const requestId = currentRequest()?.requestId;
      return requestId ? { requestId } : {};
    },
  });
}
