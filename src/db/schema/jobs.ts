import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenants } from './tenancy.ts';

/**
 * A job as the admin API shows it. BullMQ holds the queue state in Redis; this
 * row is the durable record: who asked, what, progress and the result.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    type: text('type', { enum: ['bulk_role_assignment', 'audit_export'] }).notNull(),
    status: text('status', { enum: ['queued', 'running', 'completed', 'failed'] }).notNull().default('queued'),
    actorType: text('actor_type', { enum: ['user', 'client', 'system'] }).notNull(),
    actorId: text('actor_id'),
    /** What was asked, as validated; large id lists live here, not in Redis. */
    input: jsonb('input').notNull(),
    progressDone: integer('progress_done').notNull().default(0),
    progressTotal: integer('progress_total').notNull().default(0),
    result: jsonb('result'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('jobs_tenant_created').on(t.tenantId, t.createdAt)],
);

/** A finished audit export: where its file is, how many rows, and their checksum. */
export const auditExports = pgTable('audit_exports', {
  id: uuid('id').primaryKey(),
  tenantId: uuid('tenant_id')
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  jobId: uuid('job_id')
    .notNull()
    .references(() => jobs.id, { onDelete: 'cascade' }),
  format: text('format', { enum: ['ndjson', 'csv'] }).notNull(),
  filePath: text('file_path'),
  rowCount: integer('row_count'),
  sha256: text('sha256'),
  bytes: integer('bytes'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});
