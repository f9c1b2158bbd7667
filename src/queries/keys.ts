import { eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { instanceSecrets, signingKeys } from '../db/schema/index.ts';

export type SigningKeyRow = typeof signingKeys.$inferSelect;

/** Keys that are published in JWKS: staged, active and retiring ones. */
export async function listPublishedKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db
    .select()
    .from(signingKeys)
    .where(inArray(signingKeys.status, ['staged', 'active', 'retiring']))
    .orderBy(signingKeys.createdAt);
}

/** Every key, retired ones included, oldest first. */
export async function listAllKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.select().from(signingKeys).orderBy(signingKeys.createdAt);
}

export async function findSigningKey(db: Executor, kid: string): Promise<SigningKeyRow | undefined> {
  const [row] = await db.select().from(signingKeys).where(eq(signingKeys.kid, kid)).limit(1);
  return row;
}

export async function insertSigningKey(db: Executor, row: typeof signingKeys.$inferInsert): Promise<void> {
  await db.insert(signingKeys).values(row);
}

export async function setKeyStatus(db: Executor, kid: string, status: SigningKeyRow['status']): Promise<void> {
  const now = new Date();
  await db
    .update(signingKeys)
    .set({
      status,
      ...(status === 'active' ? { activatedAt: now } : {}),
      ...(status === 'retiring' ? { deactivatedAt: now } : {}),
      ...(status === 'retired' ? { retiredAt: now } : {}),
    })
    .where(eq(signingKeys.kid, kid));
}

/** Returns the stored secret, inserting `value` first if none exists (first writer wins). */
export async function getOrCreateSecret(db: Executor, name: string, value: string): Promise<string> {
  await db.insert(instanceSecrets).values({ name, value }).onConflictDoNothing();
  const [row] = await db.select().from(instanceSecrets).where(eq(instanceSecrets.name, name)).limit(1);
  return row!.value;
}

/** Serialises first-start work across processes for the rest of the transaction. */
export async function lockBootstrap(db: Executor): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(7264390116)`);
}
