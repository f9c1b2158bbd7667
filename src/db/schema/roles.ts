import { sql } from 'drizzle-orm';
import { index, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { clients, groups, tenants, users } from './tenancy.ts';

export const roles = pgTable(
  'roles',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    type: text('type', { enum: ['system', 'custom'] }).notNull(),
    /** Sorted and closed under `requires` when written. */
    capabilities: text('capabilities').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('roles_tenant_slug').on(t.tenantId, t.slug),
    // Names clash ignoring case, system role names included.
    uniqueIndex('roles_tenant_name_ci').on(t.tenantId, sql`lower(${t.name})`),
  ],
);

/** Slugs of deleted roles: never handed out again in that tenant. */
export const retiredSlugs = pgTable(
  'retired_slugs',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    slug: text('slug').notNull(),
    retiredAt: timestamp('retired_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.slug] })],
);

const assignmentColumns = () => ({
  tenantId: uuid('tenant_id').notNull(),
  roleId: uuid('role_id')
    .notNull()
    .references(() => roles.id, { onDelete: 'cascade' }),
  assignedAt: timestamp('assigned_at', { withTimezone: true }).notNull().defaultNow(),
  /** Null means permanent; otherwise the assignment stops counting at issuance from this instant. */
  expiresAt: timestamp('expires_at', { withTimezone: true }),
});

export const userRoles = pgTable(
  'user_roles',
  {
    ...assignmentColumns(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.roleId] }), index('user_roles_role').on(t.roleId)],
);

export const groupRoles = pgTable(
  'group_roles',
  {
    ...assignmentColumns(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.roleId] }), index('group_roles_role').on(t.roleId)],
);

/** Roles of service clients (service accounts). */
export const clientRoles = pgTable(
  'client_roles',
  {
    ...assignmentColumns(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.roleId] }), index('client_roles_role').on(t.roleId)],
);
