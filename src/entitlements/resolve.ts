import { closeUnderRequires } from '../catalogue/closure.ts';

import type { RoleLink, SubjectLinks, TenantGraph } from '../queries/entitlements.ts';

export type { RoleLink, SubjectLinks, TenantGraph } from '../queries/entitlements.ts';

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
  let allowed = allowedSets.get(clientAllowed);
  if (!allowed) {
    allowed = new Set(clientAllowed);
    allowedSets.set(clientAllowed, allowed);
  }
  return entitled.filter((c) => allowed.has(c));
}

/**
 * A client's allowed capabilities as a set, kept per array: the array belongs to
 * the client's cached metadata, so the set is built once per client version
 * rather than on every token request (a service client may allow the whole
 * catalogue).
 */
const allowedSets = new WeakMap<readonly string[], ReadonlySet<string>>();
