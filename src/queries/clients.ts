import { and, asc, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { clientRoles, clients, resourceServers, roles } from '../db/schema/index.ts';

export type ClientRow = typeof clients.$inferSelect;
export type ResourceServerRow = typeof resourceServers.$inferSelect;
/** The fields an admin may change after creation (never the type or the secret). */
export type ClientPatch = Partial<Pick<ClientRow, 'name' | 'redirectUris' | 'postLogoutRedirectUris' | 'firstParty' | 'allowedScopes' | 'idTokenSignedResponseAlg' | 'backchannelLogoutUri'>>;

export async function findClientById(db: Executor, id: string): Promise<ClientRow | undefined> {
  const [row] = await db.select().from(clients).where(eq(clients.id, id)).limit(1);
  return row;
}

/** A client of one tenant; `lock` holds the row until the transaction ends, so before/after audits stay exact. */
export async function findTenantClient(db: Executor, tenantId: string, id: string, lock = false): Promise<ClientRow | undefined> {
  const query = db
    .select()
    .from(clients)
    .where(and(eq(clients.tenantId, tenantId), eq(clients.id, id)))
    .limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

export async function insertClient(db: Executor, row: typeof clients.$inferInsert): Promise<ClientRow> {
  const [created] = await db.insert(clients).values(row).returning();
  return created!;
}

export async function updateClientSecretHash(db: Executor, id: string, secretHash: string): Promise<void> {
  await db.update(clients).set({ secretHash, updatedAt: new Date() }).where(eq(clients.id, id));
}

export async function setClientDisabled(db: Executor, id: string, disabled: boolean): Promise<ClientRow | undefined> {
  const [row] = await db.update(clients).set({ disabled, updatedAt: new Date() }).where(eq(clients.id, id)).returning();
  return row;
}

export async function updateClient(db: Executor, id: string, patch: ClientPatch): Promise<ClientRow> {
  const [row] = await db.update(clients).set({ ...patch, updatedAt: new Date() }).where(eq(clients.id, id)).returning();
  return row!;
}

/** Deletes a client; its role assignments cascade. */
export async function deleteClient(db: Executor, id: string): Promise<void> {
  await db.delete(clients).where(eq(clients.id, id));
}

export async function listClients(db: Executor, tenantId: string): Promise<ClientRow[]> {
  return db.select().from(clients).where(eq(clients.tenantId, tenantId)).orderBy(clients.createdAt);
}

/**
 * One page of a tenant's clients in creation order. The sort key travels as
 * text because a JS Date would drop Postgres' microseconds and repeat rows.
 */
export async function listClientsPage(
  db: Executor,
  tenantId: string,
  after: { k: string; id: string } | undefined,
  limit: number,
): Promise<(ClientRow & { sortKey: string })[]> {
  return db
    .select({ ...getTableColumns(clients), sortKey: sql<string>`${clients.createdAt}::text` })
    .from(clients)
    .where(and(eq(clients.tenantId, tenantId), after ? sql`(${clients.createdAt}, ${clients.id}) > (${after.k}::timestamptz, ${after.id})` : undefined))
    .orderBy(asc(clients.createdAt), asc(clients.id))
    .limit(limit);
}

export interface ClientRoleRow {
  slug: string;
  name: string;
  assignedAt: Date;
  expiresAt: Date | null;
}

/** Roles assigned directly to a client (service account). */
export async function listClientRoles(db: Executor, clientId: string): Promise<ClientRoleRow[]> {
  return db
    .select({ slug: roles.slug, name: roles.name, assignedAt: clientRoles.assignedAt, expiresAt: clientRoles.expiresAt })
    .from(clientRoles)
    .innerJoin(roles, eq(roles.id, clientRoles.roleId))
    .where(eq(clientRoles.clientId, clientId))
    .orderBy(asc(roles.slug));
}

export async function findResourceServer(db: Executor, tenantId: string, indicator: string): Promise<ResourceServerRow | undefined> {
  const [row] = await db
    .select()
    .from(resourceServers)
    .where(and(eq(resourceServers.tenantId, tenantId), eq(resourceServers.indicator, indicator)))
    .limit(1);
  return row;
}

export async function insertResourceServer(db: Executor, row: typeof resourceServers.$inferInsert): Promise<ResourceServerRow> {
  const [created] = await db.insert(resourceServers).values(row).returning();
  return created!;
}
