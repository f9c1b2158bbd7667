import type { Database } from '../db/client.ts';
import type { RoleService } from './roles.ts';
import type { Revocations } from '../sessions/revocations.ts';
import { randomUUID } from 'node:crypto';
import { conflict, notFound, unprocessable } from '../errors/index.ts';
import { findUserByEmail, findUserById, insertUser, updateUserPassword, updateUserStatus, type UserRow } from '../queries/users.ts';
import type { Actor, AuditLog } from './audit.ts';
import type { TenantChange } from './change.ts';
import { hashPassword } from './credentials.ts';

export interface CreateUserInput {
  email: string;
  displayName?: string;
  password?: string;
}

/** Users: creation, status and passwords. Every change is audited in its transaction. */
export function createUserService(deps: { change: TenantChange; audit: AuditLog; db: Database; roles: RoleService; revocations: Revocations }) {
  const { change, audit } = deps;
  return {
    async create(tenantId: string, actor: Actor, input: CreateUserInput): Promise<UserRow> {
      const email = input.email.trim();
      if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw unprocessable('invalid_email', 'email is not a valid address');
      const passwordHash = input.password ? await hashPassword(input.password) : null;
      return change(tenantId, async (tx) => {
        if (await findUserByEmail(tx, tenantId, email)) throw conflict('email_taken', 'a user with this email already exists');
        const user = await insertUser(tx, {
          id: randomUUID(),
          tenantId,
          email,
          displayName: input.displayName?.trim() || email.split('@')[0]!,
          passwordHash,
        });
        await audit.record(tx, tenantId, { actor, action: 'user.created', target: { type: 'user', id: user.id }, data: { email } });
        return user;
      });
    },

    async setStatus(tenantId: string, actor: Actor, userId: string, status: 'active' | 'suspended'): Promise<UserRow> {
      return change(tenantId, async (tx) => {
        const user = await findUserById(tx, userId);
        if (!user || user.tenantId !== tenantId) throw notFound('user');
        const updated = (await updateUserStatus(tx, userId, status))!;
        await audit.record(tx, tenantId, {
          actor,
          action: status === 'suspended' ? 'user.suspended' : 'user.reactivated',
          target: { type: 'user', id: userId },
        });
        return updated;
      });
    },

    async setPassword(tenantId: string, actor: Actor, userId: string, password: string): Promise<void> {
      const hash = await hashPassword(password);
      await change(tenantId, async (tx) => {
        const user = await findUserById(tx, userId);
        if (!user || user.tenantId !== tenantId) throw notFound('user');
        await updateUserPassword(tx, userId, hash);
        await audit.record(tx, tenantId, { actor, action: 'user.password_reset', target: { type: 'user', id: userId } });
      });
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
