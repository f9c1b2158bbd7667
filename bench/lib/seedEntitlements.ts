import { randomUUID } from 'node:crypto';
import { ALL_CAPABILITY_IDS, CAPABILITY_BY_ID, closeUnderRequires } from '../../src/catalogue/index.ts';
import type { Core } from '../../src/app/index.ts';
import { insertEdge, insertGroup, insertMember } from '../../src/queries/groups.ts';
import { findRoleBySlug, insertRoles } from '../../src/queries/roles.ts';
import { upsertGroupRoles, upsertUserRoles } from '../../src/queries/assignments.ts';
import { SYSTEM_ACTOR } from '../../src/services/audit.ts';

export const ROLES = 500;
export const CHAINS = 20;
export const DEPTH = 5;
export const ROLES_PER_GROUP = 3;

/**
 * The worst case: 500 custom roles in the tenant; 100 groups as 20
 * chains nested 5 deep, each group holding 3 roles; a "deep" user who is a
 * member of the 20 deepest groups and so reaches all 100; a "flat" user with
 * one direct role. Seeded in one transaction through the query layer.
 */
export async function seedEntitlements(core: Core, tenantId: string, users: { deep: string; flat: string }) {
  const grantable = ALL_CAPABILITY_IDS.filter((c) => !CAPABILITY_BY_ID.get(c)!.reserved);
  await core.change(tenantId, async (tx) => {
    const roles = await insertRoles(
      tx,
      Array.from({ length: ROLES }, (_, i) => ({
        id: randomUUID(),
        tenantId,
        slug: `bench-role-${i}`,
        name: `Bench role ${i}`,
        type: 'custom' as const,
        capabilities: closeUnderRequires([grantable[i % grantable.length]!, grantable[(i * 7) % grantable.length]!]),
      })),
    );
    let r = 0;
    for (let chain = 0; chain < CHAINS; chain++) {
      let parent: string | undefined;
      for (let level = 0; level < DEPTH; level++) {
        const group = await insertGroup(tx, { id: randomUUID(), tenantId, name: `chain ${chain} level ${level}` });
        if (parent) await insertEdge(tx, tenantId, parent, group.id);
        await upsertGroupRoles(
          tx,
          Array.from({ length: ROLES_PER_GROUP }, () => ({ tenantId, groupId: group.id, roleId: roles[r++ % ROLES]!.id, expiresAt: null })),
        );
        parent = group.id;
      }
      await insertMember(tx, tenantId, parent!, users.deep);
    }
    const viewer = await findRoleBySlug(tx, tenantId, 'viewer');
    await upsertUserRoles(tx, [{ tenantId, roleId: viewer!.id, userId: users.flat, expiresAt: null }]);
    await core.audit.record(tx, tenantId, { actor: SYSTEM_ACTOR, action: 'bench.seeded', data: { roles: ROLES, groups: CHAINS * DEPTH } });
  });
}
