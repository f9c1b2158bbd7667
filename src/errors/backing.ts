const CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTCONN', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
const MESSAGES = [/Stream isn't writeable/i, /Connection is closed/i, /Command timed out/i, /Connection terminated/i, /timeout exceeded when trying to connect/i, /Client has encountered a connection error/i, /MaxRetriesPerRequest/i];

/** True when an error (or any error in its cause chain) means Postgres or Redis could not be reached. */
export function isBackingServiceError(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && CODES.has(e.code)) return true;
    const text = `${String(e.name ?? '')} ${String(e.message ?? '')}`;
    if (MESSAGES.some((re) => re.test(text))) return true;
  }
  return false;
}
