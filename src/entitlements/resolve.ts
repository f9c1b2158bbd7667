import { closeUnderRequires } from '../catalogue/closure.ts';

/** One role attached to a subject or group; `expiresAt` in epoch ms, null for permanent. */
export interface RoleLink {
  roleId: string;
  expiresAt: number | null;
}

/** The tenant-wide part of entitlement: roles, group nesting and group roles. */
export interface TenantGraph {
  roleCapabilities: ReadonlyMap<string, readonly string[]>;
  /** group id → its parent group ids */
  groupParents: ReadonlyMap<string, readonly string[]>;
  /** group id → roles assigned to the group */
  groupRoles: ReadonlyMap<string, readonly RoleLink[]>;
}

/** The subject-specific part: direct roles and direct group memberships. */
export interface SubjectLinks {
  directRoles: readonly RoleLink[];
  groups: readonly string[];
}

export interface Entitlement {
  /** Effective capabilities, sorted and closed under `requires`. */
  capabilities: readonly string[];
  /** Epoch ms at which a time-bound assignment next expires; the result is stale from then. */
  validUntil: number;
}

/** Every group reachable from `start` through parent edges; cycles are harmless. */
export function reachableGroups(graph: TenantGraph, start: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...start];
  while (stack.length) {
    const g = stack.pop()!;
    if (seen.has(g)) continue;
    seen.add(g);
    for (const parent of graph.groupParents.get(g) ?? []) stack.push(parent);
  }
  return seen;
}

/**
 * Effective capabilities at `now`: unexpired direct roles, roles of every group
 * reached through nesting, then the dependency closure of the union.
 */
export function resolveEntitlement(graph: TenantGraph, subject: SubjectLinks, now: number): Entitlement {
  const roleIds = new Set<string>();
  let validUntil = Number.POSITIVE_INFINITY;
  const take = (link: RoleLink) => {
    if (link.expiresAt !== null) {
      if (link.expiresAt <= now) return;
      validUntil = Math.min(validUntil, link.expiresAt);
    }
    roleIds.add(link.roleId);
  };
  subject.directRoles.forEach(take);
  for (const g of reachableGroups(graph, subject.groups)) graph.groupRoles.get(g)?.forEach(take);

  const caps = new Set<string>();
  for (const r of roleIds) for (const c of graph.roleCapabilities.get(r) ?? []) caps.add(c);
  return { capabilities: closeUnderRequires(caps), validUntil };
}

/**
 * The capability scopes a token may carry: entitled ∩ allowed-for-client.
 * Requested scopes are intersected later by oidc-provider, which treats this
 * as the resource server's scope.
 */
export function grantableScopes(entitled: readonly string[], clientAllowed: readonly string[] | null): string[] {
  if (!clientAllowed) return [...entitled];
  const allowed = new Set(clientAllowed);
  return entitled.filter((c) => allowed.has(c));
}
