import type { Database } from '../db/client.ts';
import { findUserByEmail } from '../queries/users.ts';
import type { AuditLog } from './audit.ts';
import { verifyPassword } from './credentials.ts';
import type { LoginThrottle } from './loginThrottle.ts';

export type LoginFailureReason = 'unknown_email' | 'bad_password' | 'suspended';
export type RateLimit = 'account' | 'ip';

export type SignInOutcome = { ok: true; userId: string } | { ok: false; throttled: RateLimit } | { ok: false; reason: LoginFailureReason };

/**
 * Password sign-in (SPEC §11): the throttle, the lookup, the Argon2 check and
 * the `login.*` audit event. An unknown email costs the same Argon2 work as a
 * wrong password, and both answer the same to the caller's user.
 */
export function createSignIn(deps: { db: Database; audit: AuditLog; throttle: LoginThrottle }) {
  const { db, audit, throttle } = deps;
  return {
    async attempt(input: { tenantId: string; email: string; password: string; ip: string; clientId: string }): Promise<SignInOutcome> {
      const { tenantId, email, ip } = input;
      // Counted before Argon2 runs, atomically: concurrent guesses can't get past the limit together.
      const limit = await throttle.take(tenantId, email, ip);
      if (limit) return { ok: false, throttled: limit };
      const user = email ? await findUserByEmail(db, tenantId, email) : undefined;
      // Always verify, even for unknown emails, so response time reveals nothing.
      const valid = await verifyPassword(user?.passwordHash, input.password);
      if (!user || !valid || user.status !== 'active') {
        const reason: LoginFailureReason = !user ? 'unknown_email' : user.status !== 'active' ? 'suspended' : 'bad_password';
        await db.transaction((tx) =>
          audit.record(tx, tenantId, {
            actor: user ? { type: 'user', id: user.id } : { type: 'system', id: null },
            action: 'login.failed',
            target: user ? { type: 'user', id: user.id } : undefined,
            data: { email, client: input.clientId, reason },
          }),
        );
        return { ok: false, reason };
      }
      await throttle.refund(tenantId, email, ip);
      await db.transaction((tx) => audit.record(tx, tenantId, { actor: { type: 'user', id: user.id }, action: 'login.succeeded', target: { type: 'user', id: user.id }, data: { client: input.clientId } }));
      return { ok: true, userId: user.id };
    },
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
