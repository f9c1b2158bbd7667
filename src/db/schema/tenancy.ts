import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  displayName: text('display_name').notNull(),
  logoUrl: text('logo_url'),
  accentColor: text('accent_color'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    /** The one case folding of the email (text/index.ts foldCase): uniqueness, sign-in lookup and throttle compare it. */
    emailKey: text('email_key').notNull(),
    displayName: text('display_name').notNull(),
    status: text('status', { enum: ['active', 'suspended'] }).notNull().default('active'),
    passwordHash: text('password_hash'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Emails are unique per tenant under the one folding (SPEC §8); lookups go through email_key.
    uniqueIndex('users_tenant_email_key').on(t.tenantId, t.emailKey),
    index('users_tenant_created').on(t.tenantId, t.createdAt, t.id),
  ],
);

export const groups = pgTable(
  'groups',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('groups_tenant_name_ci').on(t.tenantId, sql`lower(${t.name})`)],
);

/** A user's direct membership of a group. */
export const groupMembers = pgTable(
  'group_members',
  {
    tenantId: uuid('tenant_id').notNull(),
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.userId] }), index('group_members_user').on(t.userId)],
);

/** Group nesting: `childId` is a member of `parentId`. A group may have several parents. */
export const groupEdges = pgTable(
  'group_edges',
  {
    tenantId: uuid('tenant_id').notNull(),
    parentId: uuid('parent_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    childId: uuid('child_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.parentId, t.childId] }), index('group_edges_child').on(t.childId)],
);

export const clients = pgTable(
  'clients',
  {
    id: text('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    type: text('type', { enum: ['web', 'spa', 'native', 'service'] }).notNull(),
    firstParty: boolean('first_party').notNull().default(false),
    /** `sha256:<hex>` of the secret; the plaintext is shown once and never stored. */
    secretHash: text('secret_hash'),
    tokenEndpointAuthMethod: text('token_endpoint_auth_method').notNull(),
    redirectUris: text('redirect_uris').array().notNull().default(sql`'{}'::text[]`),
    postLogoutRedirectUris: text('post_logout_redirect_uris').array().notNull().default(sql`'{}'::text[]`),
    /** OIDC Back-Channel Logout 1.0: where logout tokens go when a revocation ends this client's sessions. */
    backchannelLogoutUri: text('backchannel_logout_uri'),
    /** Capability scopes this client may request; null means any catalogue capability. */
    allowedScopes: text('allowed_scopes').array(),
    /** The client's registered ID-token algorithm; null means RS256 (OIDC Registration §2). */
    idTokenSignedResponseAlg: text('id_token_signed_response_alg'),
    jwksUri: text('jwks_uri'),
    jwks: text('jwks'),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('clients_tenant').on(t.tenantId)],
);

/**
 * Resource servers (RFC 8707 audiences) beyond the built-in admin API.
 * `accessTokenFormat` opaque makes introspection and revocation apply.
 */
export const resourceServers = pgTable(
  'resource_servers',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    indicator: text('indicator').notNull(),
    name: text('name').notNull(),
    accessTokenFormat: text('access_token_format', { enum: ['jwt', 'opaque'] }).notNull().default('jwt'),
    accessTokenTtl: integer('access_token_ttl'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.indicator] })],
);
