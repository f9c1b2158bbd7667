import { CAPABILITY_BY_ID } from '../catalogue/capabilities.ts';
import type { RoleLink, SubjectLinks, TenantGraph } from './resolve.ts';
import { resolveEntitlement } from './resolve.ts';

/** One way a capability reaches a subject; ids only, names are attached by the caller. */
export type GrantPath =
  | { type: 'direct'; roleId: string }
  /** `groups` runs from the subject's own group up to the group that holds the role. */
  | { type: 'group'; groups: readonly string[]; roleId: string }
  | { type: 'dependency'; of: string };

/** A role reached through a chain of groups. */
export interface GroupChain {
  /** From the subject's direct group up to the group holding the role. */
  groups: readonly string[];
  roleId: string;
  expiresAt: number | null;
}

/**
 * Upper bound on enumerated group chains. Nesting is a DAG with possibly
 * several parents per group, so the number of distinct chains can grow
 * exponentially; past this bound explanations are truncated, never wrong.
 */
export const MAX_CHAINS = 1_000;

const live = (link: RoleLink, now: number) => link.expiresAt === null || link.expiresAt > now;

/**
 * Every simple chain from the subject's groups up through parents to a group
 * holding an unexpired role. A group already on the current chain is not
 * revisited, so cycles terminate.
 */
export function groupChains(graph: TenantGraph, startGroups: readonly string[], now: number, max = MAX_CHAINS): GroupChain[] {
  const out: GroupChain[] = [];
  const walk = (path: string[], onPath: Set<string>) => {
    const here = path[path.length - 1]!;
    for (const link of graph.groupRoles.get(here) ?? []) {
      if (out.length >= max) return;
      if (live(link, now)) out.push({ groups: [...path], roleId: link.roleId, expiresAt: link.expiresAt });
    }
    for (const parent of graph.groupParents.get(here) ?? []) {
      if (out.length >= max || onPath.has(parent)) continue;
      onPath.add(parent);
      path.push(parent);
      walk(path, onPath);
      path.pop();
      onPath.delete(parent);
    }
  };
  for (const g of new Set(startGroups)) walk([g], new Set([g]));
  return out;
}

/**
 * For each effective capability (sorted), every path that grants it: a direct
 * role, a group chain then a role, or being required by another effective
 * capability. The set of capabilities equals `resolveEntitlement`'s.
 */
export function explainEntitlement(graph: TenantGraph, subject: SubjectLinks, now: number): { id: string; paths: GrantPath[] }[] {
  const paths = new Map<string, GrantPath[]>();
  const add = (cap: string, path: GrantPath) => {
    const list = paths.get(cap) ?? [];
    list.push(path);
    paths.set(cap, list);
  };
  for (const link of subject.directRoles) {
    if (!live(link, now)) continue;
    for (const cap of graph.roleCapabilities.get(link.roleId) ?? []) add(cap, { type: 'direct', roleId: link.roleId });
  }
  for (const chain of groupChains(graph, subject.groups, now)) {
    for (const cap of graph.roleCapabilities.get(chain.roleId) ?? []) add(cap, { type: 'group', groups: chain.groups, roleId: chain.roleId });
  }
  const effective = resolveEntitlement(graph, subject, now).capabilities;
  const held = new Set(effective);
  for (const cap of effective) {
    for (const required of CAPABILITY_BY_ID.get(cap)?.requires ?? []) if (held.has(required)) add(required, { type: 'dependency', of: cap });
  }
  return effective.map((id) => ({ id, paths: paths.get(id) ?? [] }));
}
