import { eq } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { tenants } from '../db/schema/index.ts';

export type TenantRow = typeof tenants.$inferSelect;

export async function findTenantBySlug(db: Executor, slug: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.slug, slug)).limit(1);
  return row;
}

export async function findTenantById(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1);
  return row;
}

/** Inserts a tenant; returns undefined when the slug already exists. */
export async function insertTenant(db: Executor, row: typeof tenants.$inferInsert): Promise<TenantRow | undefined> {
  const [created] = await db.insert(tenants).values(row).onConflictDoNothing({ target: tenants.slug }).returning();
  return created;
}

/** True when at least one tenant exists. */
export async function hasAnyTenant(db: Executor): Promise<boolean> {
  const rows = await db.select({ id: tenants.id }).from(tenants).limit(1);
  return rows.length > 0;
}

/** The fields of a tenant that shape its sign-in pages. */
export type BrandingPatch = Partial<Pick<TenantRow, 'displayName' | 'logoUrl' | 'accentColor'>>;

/** Reads a tenant row under a lock, so a before/after audit matches what was overwritten. */
export async function lockTenant(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id)).limit(1).for('update');
  return row;
}

export async function updateTenantBranding(db: Executor, id: string, patch: BrandingPatch): Promise<TenantRow> {
  const [row] = await db.update(tenants).set({ ...patch, updatedAt: new Date() }).where(eq(tenants.id, id)).returning();
  return row!;
}

/** Up to `limit` tenants in slug order (the console's tenant choice needs to know whether there is exactly one). */
export async function listTenants(db: Executor, limit: number): Promise<TenantRow[]> {
  return db.select().from(tenants).orderBy(tenants.slug).limit(limit);
}
