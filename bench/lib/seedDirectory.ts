/**
 * A large directory for the benches that need one (bench/console, bench/churn):
 * `users` users, `groups` groups in chains five deep, `roles` custom roles,
 * every user in one group, every group one role, every tenth user a direct role.
 * Written with set-based SQL, so 100,000 users take seconds.
 */
import { sql } from 'drizzle-orm';
import { CAPABILITIES, closeUnderRequires } from '../../src/catalogue/index.ts';
import { rows, type Database } from '../../src/db/client.ts';

export async function seedDirectory(db: Database, tenantId: string, size: { users: number; groups: number; roles: number; emailDomain: string }): Promise<void> {
  const { users: USERS, groups: GROUPS, roles: ROLES, emailDomain } = size;
  const q = <T>(query: ReturnType<typeof sql>) => rows<T>(db, query);
  const grantable = CAPABILITIES.filter((c) => !c.reserved).map((c) => c.id);
  for (let i = 0; i < ROLES; i++) {
    const caps = closeUnderRequires([grantable[i % grantable.length]!, grantable[(i * 7) % grantable.length]!]);
    await q(sql`insert into roles (id, tenant_id, slug, name, type, capabilities) values (gen_random_uuid(), ${tenantId}, ${`bench-role-${i}`}, ${`Bench role ${i}`}, 'custom', ${`{${caps.join(',')}}`}::text[])`);
  }
  await q(sql`insert into users (id, tenant_id, email, email_key, display_name)
    select gen_random_uuid(), ${tenantId}, 'u' || i || '@' || ${emailDomain}, 'u' || i || '@' || ${emailDomain}, 'User ' || i from generate_series(1, ${USERS}) i`);
  await q(sql`insert into groups (id, tenant_id, name) select gen_random_uuid(), ${tenantId}, 'Group ' || i from generate_series(1, ${GROUPS}) i`);
  // Chains of five: Group 5k+1 ⊃ 5k+2 ⊃ … ⊃ 5k+5.
  await q(sql`insert into group_edges (tenant_id, parent_id, child_id)
    select ${tenantId}, p.id, c.id from groups p join groups c on c.tenant_id = p.tenant_id
    and substring(c.name from 7)::int = substring(p.name from 7)::int + 1 and substring(p.name from 7)::int % 5 <> 0
    where p.tenant_id = ${tenantId}`);
  // Every user in one group (the deepest of some chain gets the most), every group one role, every tenth user a direct role.
  await q(sql`with u as (select id, row_number() over (order by created_at, id) n from users where tenant_id = ${tenantId}),
    g as (select id, substring(name from 7)::int n from groups where tenant_id = ${tenantId})
    insert into group_members (tenant_id, group_id, user_id) select ${tenantId}, g.id, u.id from u join g on g.n = (u.n % ${GROUPS}) + 1`);
  await q(sql`with r as (select id, row_number() over (order by slug) n from roles where tenant_id = ${tenantId} and type = 'custom'),
    g as (select id, substring(name from 7)::int n from groups where tenant_id = ${tenantId})
    insert into group_roles (tenant_id, group_id, role_id) select ${tenantId}, g.id, r.id from g join r on r.n = (g.n % ${ROLES}) + 1`);
  await q(sql`with u as (select id, row_number() over (order by created_at, id) n from users where tenant_id = ${tenantId}),
    r as (select id, row_number() over (order by slug) n from roles where tenant_id = ${tenantId} and type = 'custom')
    insert into user_roles (tenant_id, user_id, role_id) select ${tenantId}, u.id, r.id from u join r on r.n = (u.n % ${ROLES}) + 1 where u.n % 10 = 0`);
  await q(sql`analyze`);
}
