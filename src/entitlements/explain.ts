import { CAPABILITY_BY_ID } from '../catalogue/capabilities.ts';
import type { RoleLink, SubjectLinks, TenantGraph } from './resolve.ts';
import { resolveEntitlement } from './resolve.ts';

/** One way a capability reaches a subject; ids only, names are attached by the caller. */
export type GrantPath =
  | { type: 'direct'; roleId: string }
  /**
   * `groups` is the shortest chain from the subject's own group up to the group
   * that holds the role; `chains` counts every distinct chain to that group.
   */
  | { type: 'group'; groups: readonly string[]; roleId: string; chains: number }
  | { type: 'dependency'; of: string };

/** A role reached through groups: one per (group holding it, role), never one per chain. */
export interface GroupChain {
  /** The shortest chain from the subject's direct group up to the group holding the role. */
  groups: readonly string[];
  roleId: string;
  expiresAt: number | null;
  /** How many distinct chains lead to that group (capped at Number.MAX_SAFE_INTEGER). */
  chains: number;
}

/** Paths listed per capability at most; `path_count` says how many there are in all. */
export const MAX_PATHS_PER_CAPABILITY = 50;

const live = (link: RoleLink, now: number) => link.expiresAt === null || link.expiresAt > now;
const capped = (n: number) => Math.min(n, Number.MAX_SAFE_INTEGER);

/**
 * Every group reachable from `startGroups` through parents, with its shortest
 * chain and the number of distinct chains that reach it. Linear in the groups
 * and edges reached: one breadth-first pass for the chains, one pass in
 * topological order for the counts (CHECKLIST 31: a "ladder" of nested groups
 * has exponentially many chains, so they are counted, never enumerated).
 */
export function reachedGroups(graph: TenantGraph, startGroups: readonly string[]): Map<string, { path: string[]; chains: number }> {
  const starts = [...new Set(startGroups)];
  const pred = new Map<string, string | null>(starts.map((g) => [g, null]));
  const order: string[] = [...starts];
  for (let i = 0; i < order.length; i++) {
    for (const parent of graph.groupParents.get(order[i]!) ?? []) {
      if (pred.has(parent)) continue;
      pred.set(parent, order[i]!);
      order.push(parent);
    }
  }
  // Counts: chains(g) = [g is a start] + Σ chains(child) over reached children; Kahn's order over child → parent edges.
  const pending = new Map<string, number>(order.map((g) => [g, 0]));
  for (const g of order) for (const p of graph.groupParents.get(g) ?? []) pending.set(p, pending.get(p)! + 1);
  const chains = new Map<string, number>(order.map((g) => [g, 0]));
  for (const g of starts) chains.set(g, 1);
  const ready = order.filter((g) => pending.get(g) === 0);
  for (let i = 0; i < ready.length; i++) {
    const g = ready[i]!;
    for (const p of graph.groupParents.get(g) ?? []) {
      chains.set(p, capped(chains.get(p)! + chains.get(g)!));
      pending.set(p, pending.get(p)! - 1);
      if (pending.get(p) === 0) ready.push(p);
    }
  }
  const out = new Map<string, { path: string[]; chains: number }>();
  for (const g of order) {
    const path: string[] = [];
    for (let at: string | null | undefined = g; at; at = pred.get(at)) path.push(at);
    // A cycle (refused on write, tolerated here) leaves its groups uncounted: they still have one chain.
    out.set(g, { path: path.reverse(), chains: Math.max(1, chains.get(g)!) });
  }
  return out;
}

/** The unexpired roles reached through groups, one entry per (group holding it, role). */
export function groupChains(graph: TenantGraph, startGroups: readonly string[], now: number): GroupChain[] {
  const out: GroupChain[] = [];
  for (const [group, reach] of reachedGroups(graph, startGroups)) {
    for (const link of graph.groupRoles.get(group) ?? []) {
      if (live(link, now)) out.push({ groups: reach.path, roleId: link.roleId, expiresAt: link.expiresAt, chains: reach.chains });
    }
  }
  return out;
}

/**
 * For each effective capability (sorted), the paths that grant it: a direct
 * role, a group (its shortest chain and how many chains reach it) then a role,
 * or being required by another effective capability. At most
 * MAX_PATHS_PER_CAPABILITY are listed; `path_count` counts them all. The set
 * of capabilities equals `resolveEntitlement`'s.
 */
export function explainEntitlement(graph: TenantGraph, subject: SubjectLinks, now: number): { id: string; paths: GrantPath[]; path_count: number }[] {
  const paths = new Map<string, GrantPath[]>();
  const counts = new Map<string, number>();
  const add = (cap: string, path: GrantPath, n = 1) => {
    counts.set(cap, capped((counts.get(cap) ?? 0) + n));
    const list = paths.get(cap) ?? [];
    if (list.length < MAX_PATHS_PER_CAPABILITY) list.push(path);
    paths.set(cap, list);
  };
  for (const link of subject.directRoles) {
    if (!live(link, now)) continue;
    for (const cap of graph.roleCapabilities.get(link.roleId) ?? []) add(cap, { type: 'direct', roleId: link.roleId });
  }
  for (const chain of groupChains(graph, subject.groups, now)) {
    for (const cap of graph.roleCapabilities.get(chain.roleId) ?? []) add(cap, { type: 'group', groups: chain.groups, roleId: chain.roleId, chains: chain.chains }, chain.chains);
  }
  const effective = resolveEntitlement(graph, subject, now).capabilities;
  const held = new Set(effective);
  for (const cap of effective) {
    for (const required of CAPABILITY_BY_ID.get(cap)?.requires ?? []) if (held.has(required)) add(required, { type: 'dependency', of: cap });
  }
  return effective.map((id) => ({ id, paths: paths.get(id) ?? [], path_count: counts.get(id) ?? 0 }));
}
