import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tenants } from './tenancy.ts';

/**
 * Token signing keys. `staged` keys are published in JWKS before they sign;
 * `active` signs; `retiring` no longer signs but stays published until the
 * tokens it signed have expired; `retired` ones are not published.
 */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  status: text('status', { enum: ['staged', 'active', 'retiring', 'retired'] }).notNull(),
  privateJwk: jsonb('private_jwk').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  activatedAt: timestamp('activated_at', { withTimezone: true }),
  /** When the key stopped signing (promotion of its successor). */
  deactivatedAt: timestamp('deactivated_at', { withTimezone: true }),
  retiredAt: timestamp('retired_at', { withTimezone: true }),
});

/** Instance-wide secrets shared by every process (cookie signing keys). */
export const instanceSecrets = pgTable('instance_secrets', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Revocation times per subject. Tokens issued before `revokedAt` are refused by the
 * admin API and reported inactive. Durable here, mirrored in Redis.
 */
export const revocations = pgTable(
  'revocations',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    subject: text('subject').notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.subject] })],
);

/**
 * Append-only audit log, hash-chained per tenant through (`seq`, `prevHash`, `hash`).
 * A change inserts its events with only `pos` (a global sequence, taken without
 * any lock); the chainer (`services/auditChain.ts`) then gives them the tenant's
 * next `seq` numbers and their hashes right after the commit. `seq`, `prevHash`
 * and `hash` are null only in that short window (or after a crash, until the next
 * chaining or the worker's sweep).
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** Order of insertion across all tenants; gaps are normal (rolled-back changes). */
    pos: bigserial('pos', { mode: 'number' }).notNull(),
    seq: bigint('seq', { mode: 'number' }),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    actorType: text('actor_type', { enum: ['user', 'client', 'system'] }).notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    data: jsonb('data').notNull().default(sql`'{}'::jsonb`),
    parentId: uuid('parent_id'),
    requestId: text('request_id'),
    prevHash: text('prev_hash'),
    hash: text('hash'),
  },
  (t) => [
    uniqueIndex('audit_events_tenant_seq').on(t.tenantId, t.seq),
    index('audit_events_tenant_at').on(t.tenantId, t.at),
    index('audit_events_parent').on(t.parentId),
    index('audit_events_unchained').on(t.tenantId, t.pos).where(sql`${t.seq} is null`),
    check('audit_events_chained_whole', sql`(${t.seq} is null) = (${t.hash} is null) and (${t.hash} is null) = (${t.prevHash} is null)`),
  ],
);
