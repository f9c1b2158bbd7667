import type { Redis } from 'ioredis';
import { notFound } from '../errors/index.ts';
import { findUserById } from '../queries/users.ts';
import type { FeedPublisher } from '../sessions/feed.ts';
import type { RedisKeys } from '../redis/keys.ts';
import type { PurgeCounts, Purger } from '../sessions/purge.ts';
import type { Revocations } from '../sessions/revocations.ts';
import type { AuditLog } from './audit.ts';
import { assertDominates, type Access } from './authority.ts';
import type { TenantChange } from './change.ts';
import type { Tx } from '../db/client.ts';

/** A sign-in session as the admin API shows it. The id is the session's uid, never its cookie value. */
export interface SessionView {
  id: string;
  clients: string[];
  created_at: string | null;
  last_active_at: string | null;
  expires_at: string | null;
  ip: string | null;
  user_agent: string | null;
}

interface SessionPayload {
  uid?: string;
  accountId?: string;
  loginTs?: number;
  exp?: number;
  authorizations?: Record<string, { grantId?: string; sid?: string }>;
}

/** One client's part of a sign-in session: what a back-channel logout token names. */
export interface SessionAuthorization {
  clientId: string;
  sid: string;
}

/**
 * Tells relying parties that sessions ended (OIDC Back-Channel Logout 1.0).
 * The server process provides it (oidc/backchannel.ts); it delivers in the
 * background, retries, counts and audits the outcome, and never throws.
 */
export interface BackchannelLogout {
  notify(tenantId: string, sub: string, ended: readonly SessionAuthorization[]): void;
}

const authorizationsOf = (p: SessionPayload | undefined): SessionAuthorization[] =>
  Object.entries(p?.authorizations ?? {}).flatMap(([clientId, a]) => (a.sid ? [{ clientId, sid: a.sid }] : []));

const iso = (seconds: number | undefined) => (seconds ? new Date(seconds * 1000).toISOString() : null);

/**
 * Sessions and forced re-authentication (SPEC §7). Revoke-all writes the
 * revocation time and its audit event first (Postgres, durable), mirrors it
 * to Redis, announces it on the feed, then purges sessions, grants and tokens
 * atomically. If the purge cannot run (Redis down), the revocation time alone
 * still refuses every older session, refresh token and access token.
 */
export function createSessionService(deps: {
  redis: Redis;
  keys: RedisKeys;
  purger: Purger;
  revocations: Revocations;
  feed: FeedPublisher;
  change: TenantChange;
  audit: AuditLog;
}) {
  const { redis, keys, purger, revocations, feed, change, audit } = deps;

  async function requireUser(tx: Tx, tenantId: string, userId: string): Promise<void> {
    if ((await findUserById(tx, userId))?.tenantId !== tenantId) throw notFound('user');
  }

  /** 404 for a user of another tenant, then the dominance rule (SPEC §4). */
  async function requireTarget(tx: Tx, access: Access, userId: string, what: string): Promise<void> {
    await requireUser(tx, access.tenantId, userId);
    await assertDominates(tx, access, { type: 'user', id: userId }, what);
  }

  let backchannel: BackchannelLogout | undefined;

  /** The client authorizations of every live session of a user, read before they are purged. */
  async function authorizationsOfUser(userId: string): Promise<SessionAuthorization[]> {
    const sessionKeys = (await redis.smembers(keys.accountIndex(userId))).filter((k) => k.includes(':Session:'));
    if (!sessionKeys.length) return [];
    const pipe = redis.pipeline();
    for (const key of sessionKeys) pipe.hget(key, 'p');
    return ((await pipe.exec()) ?? []).flatMap(([, p]) => {
      const payload = p ? (JSON.parse(p as string) as SessionPayload) : undefined;
      return payload?.accountId === userId ? authorizationsOf(payload) : [];
    });
  }

  async function indexCounts(userId: string): Promise<{ sessions: number; grants: number }> {
    const members = await redis.smembers(keys.accountIndex(userId));
    return { sessions: members.filter((k) => k.includes(':Session:')).length, grants: members.filter((k) => k.includes(':Grant:')).length };
  }

  /**
   * Everything after the revocation time is committed (and mirrored): announce it on the feed, then
   * purge a user's sessions, grants and tokens (a client has none of its own to purge).
   */
  async function afterRevocation(tenantId: string, subject: string, at: Date, kind: 'user' | 'client' = 'user'): Promise<PurgeCounts | undefined> {
    await feed.publish(tenantId, subject, at);
    if (kind !== 'user') return undefined;
    // Read before the purge: the logout tokens name each session's per-client sid.
    const ended = backchannel ? await authorizationsOfUser(subject) : [];
    const counts = await purger.all(subject);
    if (ended.length) backchannel?.notify(tenantId, subject, ended);
    return counts;
  }

  return {
    afterRevocation,

    /** Set by the server process once its provider exists; the CLI and workers run without one. */
    useBackchannel(notifier: BackchannelLogout) {
      backchannel = notifier;
    },

    /**
     * The one revocation path (SPEC §7 "Every trigger, one path"): revoke-all, suspension, deletion,
     * an admin password reset, and disabling or deleting a client all record the subject's revocation
     * time and a `sessions.revoked_all` event inside the caller's transaction (after its dominance
     * check); the caller then calls afterRevocation once committed.
     */
    async recordRevocation(tx: Tx, access: Access, target: { type: 'user' | 'client'; id: string }, at: Date, reason: string): Promise<void> {
      const { tenantId, actor } = access;
      const counts = target.type === 'user' ? await indexCounts(target.id) : { sessions: 0, grants: 0 };
      await revocations.record(tx, tenantId, target.id, at);
      await audit.record(tx, tenantId, {
        actor,
        action: 'sessions.revoked_all',
        target: { type: target.type === 'user' ? 'user' : 'application', id: target.id },
        data: { ...counts, reason, revoked_at: at.toISOString() },
      });
    },

    /** recordRevocation for a user. */
    recordRevokeAll(tx: Tx, access: Access, userId: string, at: Date, reason: string): Promise<void> {
      return this.recordRevocation(tx, access, { type: 'user', id: userId }, at, reason);
    },

    async list({ tenantId }: Access, userId: string): Promise<SessionView[]> {
      await change.read((tx) => requireUser(tx, tenantId, userId));
      const keysOfSessions = (await redis.smembers(keys.accountIndex(userId))).filter((k) => k.includes(':Session:'));
      if (!keysOfSessions.length) return [];
      const pipe = redis.pipeline();
      for (const key of keysOfSessions) pipe.hget(key, 'p');
      const payloads = ((await pipe.exec()) ?? []).map(([, p]) => (p ? (JSON.parse(p as string) as SessionPayload) : undefined));
      const live = payloads.filter((p): p is SessionPayload & { uid: string } => Boolean(p?.uid && p.accountId === userId));
      const metaPipe = redis.pipeline();
      for (const p of live) metaPipe.hgetall(keys.sessionMeta(p.uid));
      const metas = ((await metaPipe.exec()) ?? []).map(([, m]) => (m ?? {}) as Record<string, string>);
      return live
        .map((p, i) => ({
          id: p.uid,
          clients: Object.keys(p.authorizations ?? {}).sort(),
          created_at: iso(p.loginTs) ?? metas[i]!.created_at ?? null,
          last_active_at: metas[i]!.last_active_at ?? null,
          expires_at: iso(p.exp),
          ip: metas[i]!.ip ?? null,
          user_agent: metas[i]!.user_agent ?? null,
        }))
        .sort((a, b) => String(b.last_active_at).localeCompare(String(a.last_active_at)));
    },

    /** Revokes one session: the session, the grants it authorised and their tokens. */
    async revoke(access: Access, userId: string, sessionUid: string): Promise<PurgeCounts> {
      const { tenantId, actor } = access;
      const sessionId = await redis.get(keys.sessionUid(sessionUid));
      const payload = sessionId ? await redis.hget(keys.oidcModel('Session', sessionId), 'p') : null;
      const session = payload ? (JSON.parse(payload) as SessionPayload) : undefined;
      await change(tenantId, async (tx) => {
        await requireTarget(tx, access, userId, 'revoke this user’s sessions');
        if (!session || session.accountId !== userId) throw notFound('session');
        await audit.record(tx, tenantId, {
          actor,
          action: 'session.revoked',
          target: { type: 'user', id: userId },
          data: { session: sessionUid, clients: Object.keys(session.authorizations ?? {}).sort() },
        });
      });
      const counts = await purger.session(userId, sessionId!);
      const ended = authorizationsOf(session);
      if (ended.length) backchannel?.notify(tenantId, userId, ended);
      return counts;
    },

    /** Revokes every session, grant and token of the user, and records the revocation time. */
    async revokeAll(access: Access, userId: string, reason = 'admin'): Promise<PurgeCounts & { revoked_at: string }> {
      const { tenantId } = access;
      const at = new Date();
      await change(tenantId, async (tx) => {
        await requireTarget(tx, access, userId, 'revoke this user’s sessions');
        await this.recordRevokeAll(tx, access, userId, at, reason);
      });
      const counts = (await afterRevocation(tenantId, userId, at))!;
      return { revoked_at: at.toISOString(), ...counts };
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
