/**
 * Helpers for APIs that accept Tessera access tokens: verification with
 * scope checks and live revocation, and Koa middleware on top of it.
 */
export { createTokenVerifier, TokenError, type TokenVerifier, type TokenVerifierOptions, type VerifiedToken } from './verifier.js';
export { requireScopes, type KoaLikeContext, type KoaLikeMiddleware } from './koa.js';
export { EventStreamParser, followEventStream, type FollowOptions, type SseEvent } from './sse.js';
