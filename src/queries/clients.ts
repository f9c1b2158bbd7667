import { eq } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { clients, resourceServers } from '../db/schema/index.ts';
import { and } from 'drizzle-orm';

export type ClientRow = typeof clients.$inferSelect;
export type ResourceServerRow = typeof resourceServers.$inferSelect;

export async function findClientById(db: Executor, id: string): Promise<ClientRow | undefined> {
  const [row] = await db.select().from(clients).where(eq(clients.id, id)).limit(1);
  return row;
}

export async function insertClient(db: Executor, row: typeof clients.$inferInsert): Promise<ClientRow> {
  const [created] = await db.insert(clients).values(row).returning();
  return created!;
}

export async function updateClientSecretHash(db: Executor, id: string, secretHash: string): Promise<void> {
  await db.update(clients).set({ secretHash, updatedAt: new Date() }).where(eq(clients.id, id));
}

export async function setClientDisabled(db: Executor, id: string, disabled: boolean): Promise<void> {
  await db.update(clients).set({ disabled, updatedAt: new Date() }).where(eq(clients.id, id));
}

export async function listClients(db: Executor, tenantId: string): Promise<ClientRow[]> {
  return db.select().from(clients).where(eq(clients.tenantId, tenantId)).orderBy(clients.createdAt);
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
