/** Field-level validation problem, reported in problem+json `errors`. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * The one error type of Tessera's own API. `code` is stable and documented;
 * `expose` is false for 5xx so internals never reach a client.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly expose: boolean;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { errors?: FieldError[]; [k: string]: unknown } = {},
  ) {
    super(message);
    this.expose = status < 500;
  }
}

export const badRequest = (code: string, message: string, details?: AppError['details']) =>
  new AppError(400, code, message, details);
export const unauthorized = (code: string, message: string) => new AppError(401, code, message);
export const forbidden = (code: string, message: string, details?: AppError['details']) =>
  new AppError(403, code, message, details);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string, details?: AppError['details']) =>
  new AppError(409, code, message, details);
export const unprocessable = (code: string, message: string, details?: AppError['details']) =>
  new AppError(422, code, message, details);
export const unavailable = (message = 'a backing service is unavailable, retry shortly') =>
  new AppError(503, 'temporarily_unavailable', message);

/** Narrowing assert that throws the given AppError factory result. */
export function assert(condition: unknown, error: () => AppError): asserts condition {
  if (!condition) throw error();
}
