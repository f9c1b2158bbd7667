/**
 * Every Redis key Tessera uses, built in one place under one prefix so a
 * deployment can share a Redis and an operator can find what belongs to whom.
 */
export function createRedisKeys(prefix: string) {
  const p = prefix;
  return {
    prefix: p,
    /** One oidc-provider model instance (Session, Grant, RefreshToken, …). */
    oidcModel: (model: string, id: string) => `${p}oidc:${model}:${id}`,
    /** Set of model keys that belong to one grant, for revokeByGrantId. */
    grantIndex: (grantId: string) => `${p}oidc:grant-index:${grantId}`,
    /** Session lookup by its uid. */
    sessionUid: (uid: string) => `${p}oidc:session-uid:${uid}`,
    /** Device flow user code lookup. */
    userCode: (userCode: string) => `${p}oidc:user-code:${userCode}`,
    /** Where and when a session was signed in and last active (not part of oidc-provider's model). */
    sessionMeta: (uid: string) => `${p}oidc:session-meta:${uid}`,
    /** Recent revocations of a tenant (a Redis stream), replayed to feed subscribers that reconnect. */
    revocationStream: (tenantId: string) => `${p}tenant:${tenantId}:revocations`,
    /** Pub/sub channel announcing new revocation stream entries to every process. */
    revocationChannel: () => `${p}revocations`,
    /** Set of session and grant ids of one account, for listing and revoke-all. */
    accountIndex: (accountId: string) => `${p}account:${accountId}:index`,
    /** Random token that changes whenever anything a token depends on changes in the tenant. */
    tenantVersion: (tenantId: string) => `${p}tenant:${tenantId}:version`,
    /** Random token that changes whenever one subject's own role assignments or group memberships change. */
    subjectVersion: (tenantId: string, kind: string, id: string) => `${p}tenant:${tenantId}:${kind}:${id}:version`,
    /** Mirror of the Postgres revocation time of one subject. */
    revokedAt: (tenantId: string, subject: string) => `${p}tenant:${tenantId}:revoked:${subject}`,
    /** Pub/sub channel on which cache invalidations are announced. */
    invalidationChannel: () => `${p}invalidate`,
    /** Pub/sub channel on which signing-key changes (stage, promote, retire) are announced. */
    signingKeysChannel: () => `${p}signing-keys`,
    /** A stored response for an Idempotency-Key, per tenant and actor. */
    idempotency: (tenantId: string, actor: string, key: string) => `${p}idem:${tenantId}:${actor}:${key}`,
    /** BullMQ's own key prefix: every queue key lives under `${p}bull:`. */
    bullPrefix: () => `${p}bull`,
    /** A signed-in admin console session (encrypted; the key holds a hash of the cookie's id). */
    consoleSession: (idHash: string) => `${p}console:session:${idHash}`,
    /** A console sign-in in flight, by its OAuth state (PKCE verifier and the browser binding). */
    consoleLogin: (state: string) => `${p}console:login:${state}`,
    /** Held while one request refreshes a console session's tokens (refresh tokens rotate on use). */
    consoleRefreshLock: (idHash: string) => `${p}console:refresh-lock:${idHash}`,
    /** Fixed-window counter for the login rate limit. */
    rateLimit: (scope: 'ip' | 'account', id: string, window: number) => `${p}ratelimit:login:${scope}:${id}:${window}`,
  };
}

export type RedisKeys = ReturnType<typeof createRedisKeys>;
