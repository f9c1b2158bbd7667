import type { Access } from './authority.ts';
import type { Tx } from '../db/client.ts';
import { notFound } from '../errors/index.ts';
import { loadTenantGraph } from '../queries/entitlements.ts';
import {
  findGroupById,
  groupLinks,
  groupNames,
  listGroupsByIds,
  listGroupsPage,
  listMembersPage,
  listRolesOfGroups,
  type GroupListRow,
  type GroupRoleRow,
} from '../queries/groups.ts';
import type { TenantChange } from './change.ts';

/** The API shape of a group. */
export interface GroupView {
  id: string;
  name: string;
  description: string | null;
  member_count: number;
  subgroup_count: number;
  created_at: string;
  updated_at: string;
}

export interface GroupRoleView {
  slug: string;
  name: string;
  type: 'system' | 'custom';
  assigned_at: string;
  expires_at: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

export const groupView = (g: GroupListRow): GroupView => ({
  id: g.id,
  name: g.name,
  description: g.description,
  member_count: g.member_count,
  subgroup_count: g.subgroup_count,
  created_at: iso(g.created_at),
  updated_at: iso(g.updated_at),
});

const roleView = (r: GroupRoleRow): GroupRoleView => ({ slug: r.slug, name: r.name, type: r.type, assigned_at: iso(r.assigned_at), expires_at: r.expires_at ? iso(r.expires_at) : null });

/** A group of the tenant with counts; 404 (never 403) for another tenant's id. */
export async function requireGroupView(tx: Tx, tenantId: string, id: string): Promise<GroupView> {
  const [row] = await listGroupsByIds(tx, tenantId, [id]);
  if (!row) throw notFound('group');
  return groupView(row);
}

/**
 * Shortest parent chain from `start` to every ancestor: ancestor id → [start, …, ancestor].
 * Breadth-first, so the path shown for an inherited role is the most direct one.
 */
function ancestorPaths(parents: ReadonlyMap<string, readonly string[]>, start: string): Map<string, string[]> {
  const paths = new Map<string, string[]>([[start, [start]]]);
  const queue = [start];
  while (queue.length) {
    const g = queue.shift()!;
    for (const p of parents.get(g) ?? []) {
      if (paths.has(p)) continue;
      paths.set(p, [...paths.get(g)!, p]);
      queue.push(p);
    }
  }
  return paths;
}

/** Read side of groups; every read is one consistent snapshot. Lists fetch `limit + 1` rows so the caller can tell if more follow. */
export function createGroupReads(deps: { change: TenantChange }) {
  const { change } = deps;
  return {
    async list({ tenantId }: Access, opts: { limit: number; after?: { name: string; id: string } | undefined; query?: string | undefined }): Promise<GroupView[]> {
      return change.read(async (tx) => (await listGroupsPage(tx, tenantId, { ...opts, limit: opts.limit + 1 })).map(groupView));
    },

    async get({ tenantId }: Access, id: string): Promise<GroupView & { parents: string[] }> {
      return change.read(async (tx) => {
        const group = await requireGroupView(tx, tenantId, id);
        return { ...group, parents: (await groupLinks(tx, id)).parents };
      });
    },

    async members({ tenantId }: Access, id: string, opts: { limit: number; after?: { email: string; id: string } | undefined }) {
      return change.read(async (tx) => {
        if (!(await findGroupById(tx, tenantId, id))) throw notFound('group');
        const rows = await listMembersPage(tx, id, { ...opts, limit: opts.limit + 1 });
        return rows.map((m) => ({ id: m.id, email: m.email, display_name: m.display_name, added_at: iso(m.added_at) }));
      });
    },

    async subgroups({ tenantId }: Access, id: string): Promise<GroupView[]> {
      return change.read(async (tx) => {
        if (!(await findGroupById(tx, tenantId, id))) throw notFound('group');
        return (await listGroupsByIds(tx, tenantId, (await groupLinks(tx, id)).subgroups)).map(groupView);
      });
    },

    /** Roles assigned to the group, and those it inherits from ancestors with the chain that carries them. */
    async roles({ tenantId }: Access, id: string) {
      return change.read(async (tx) => {
        if (!(await findGroupById(tx, tenantId, id))) throw notFound('group');
        const graph = await loadTenantGraph(tx, tenantId);
        const paths = ancestorPaths(graph.groupParents, id);
        const assigned = await listRolesOfGroups(tx, [...paths.keys()]);
        const names = await groupNames(tx, tenantId, [...paths.keys()]);
        const named = (g: string) => ({ id: g, name: names.get(g) ?? '' });
        return {
          direct: assigned.filter((r) => r.group_id === id).map(roleView),
          inherited: assigned
            .filter((r) => r.group_id !== id)
            .map((r) => ({ ...roleView(r), group: named(r.group_id), path: paths.get(r.group_id)!.map(named) })),
        };
      });
    },
  };
}
