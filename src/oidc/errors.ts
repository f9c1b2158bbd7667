import { errors } from 'oidc-provider';

/**
 * RFC 6749 `temporarily_unavailable` with HTTP 503. Thrown whenever Redis or
 * Postgres can't be reached during an OIDC request, so Tessera fails closed:
 * never a token it could not check, never a misleading `invalid_grant`.
 */
export class TemporarilyUnavailable extends errors.CustomOIDCProviderError {
  constructor() {
    super('temporarily_unavailable', 'the service is temporarily unavailable, retry shortly');
    Object.assign(this, { status: 503, statusCode: 503, expose: true, allow_redirect: false });
  }
}

/** True for errors oidc-provider already knows how to answer with. */
export const isOidcError = (e: unknown): boolean => e instanceof errors.OIDCProviderError;

/**
 * Runs a data access for the provider. Protocol errors pass through; anything
 * else (a dropped connection, a timeout) becomes `temporarily_unavailable`.
 * Takes the work or its promise; one reaction, no async wrapper (token hot path).
 */
export function failClosed<T>(work: Promise<T> | (() => Promise<T>), onError?: (e: unknown) => void): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = typeof work === 'function' ? work() : work;
  } catch (e) {
    promise = Promise.reject(e);
  }
  return promise.then(undefined, (e: unknown) => {
    if (isOidcError(e)) throw e;
    onError?.(e);
    throw new TemporarilyUnavailable();
  });
}
