import { ALL_CAPABILITY_IDS } from '../catalogue/index.ts';
import { allOn, type Executor } from '../db/client.ts';
import { resolveEntitlement, type TenantGraph } from '../entitlements/resolve.ts';
import { forbidden } from '../errors/index.ts';
import { loadSubjectsLinks, loadTenantGraph } from '../queries/entitlements.ts';
import { SYSTEM_ACTOR, type Actor } from './audit.ts';

/**
 * Who is acting, in which tenant, and what they hold. The one notion of a
 * caller every service method takes first (SPEC §4): the admin API and the
 * console build it from a token (entitlement ∩ token scopes), a job from the
 * authority recorded when it was created intersected with the actor's
 * entitlement when it runs, and the CLI and bootstrap use `systemAccess`.
 */
export interface Access {
  tenantId: string;
  actor: Actor;
  /** Capabilities the actor holds now, limited to what its token (or job) delegates. */
  held: ReadonlySet<string>;
  /**
   * The tenant's role and group graph as this request sees it: the process's cache, stamped with the
   * tenant version read at the start of the request (entitlements/loader.ts). Checks use it instead of
   * reading the whole graph again in their transaction (in a tenant of 5,000 groups that read is what
   * made each membership change expensive, bench/churn). Sound because a graph change committed after
   * the request began is concurrent with it: the check is then the one it would be had this request
   * run just before that change, which the change's own authority checks already allowed. Without it
   * (jobs, CLI), checks read the graph in their transaction.
   */
  graph?: (() => Promise<TenantGraph>) | undefined;
}

/** A principal something is done to: a user or a service (or any) client of the tenant. */
export type Target = { type: 'user' | 'client'; id: string };

const EVERYTHING: ReadonlySet<string> = new Set(ALL_CAPABILITY_IDS);

/** Tessera itself (CLI, bootstrap, expiry): every capability, audited as `system`. */
export const systemAccess = (tenantId: string): Access => ({ tenantId, actor: SYSTEM_ACTOR, held: EVERYTHING });

/** An Access whose authority is `held` narrowed to what `limit` allows (a job's recorded authority, a token's scopes). */
export const narrowed = (access: Access, limit: Iterable<string>): Access => {
  const allowed = new Set(limit);
  return { ...access, held: new Set([...access.held].filter((c) => allowed.has(c))) };
};

/** The capabilities of `capabilities` the actor lacks. */
export const missingFrom = (access: Access, capabilities: Iterable<string>): string[] => [...new Set(capabilities)].filter((c) => !access.held.has(c)).sort();

/** 403 escalation_denied unless the actor holds every one of `capabilities`. */
export function assertHolds(access: Access, capabilities: Iterable<string>, what: string): void {
  const missing = missingFrom(access, capabilities);
  if (missing.length) throw forbidden('escalation_denied', `you can't ${what}: it needs capabilities you don't hold`, { missing });
}

/**
 * What each target holds now, for the dominance rule: a user's or service
 * client's effective entitlement, plus, for a first-party client, the
 * capability scopes it may obtain for the users who sign in through it
 * (`null` allowed scopes: every capability).
 */
export async function reachOf(
  db: Executor,
  tenantId: string,
  targets: readonly Target[],
  firstPartyScopes?: ReadonlyMap<string, readonly string[] | null>,
  graphOf: Access['graph'] = undefined,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!targets.length) return out;
  const users = targets.filter((t) => t.type === 'user').map((t) => t.id);
  const clients = targets.filter((t) => t.type === 'client').map((t) => t.id);
  const [graph, userLinks, clientLinks] = await allOn(db, [() => (graphOf ? graphOf() : loadTenantGraph(db, tenantId)), () => loadSubjectsLinks(db, 'user', users), () => loadSubjectsLinks(db, 'client', clients)] as const);
  const now = Date.now();
  for (const t of targets) {
    const links = (t.type === 'user' ? userLinks : clientLinks).get(t.id) ?? { directRoles: [], groups: [] };
    const caps = new Set(resolveEntitlement(graph, links, now).capabilities);
    if (t.type === 'client' && firstPartyScopes?.has(t.id)) for (const c of firstPartyScopes.get(t.id) ?? ALL_CAPABILITY_IDS) caps.add(c);
    out.set(`${t.type}:${t.id}`, [...caps].sort());
  }
  return out;
}

/** The targets the actor does not dominate, each with what it lacks. */
export async function undominated(db: Executor, access: Access, targets: readonly Target[], firstPartyScopes?: ReadonlyMap<string, readonly string[] | null>): Promise<Map<string, string[]>> {
  const reach = await reachOf(db, access.tenantId, targets, firstPartyScopes, access.graph);
  const out = new Map<string, string[]>();
  for (const [key, caps] of reach) {
    const missing = missingFrom(access, caps);
    if (missing.length) out.set(key, missing);
  }
  return out;
}

/**
 * No principal acts on a stronger one (SPEC §4): 403 escalation_denied unless
 * the actor holds every capability each target holds now. A target holding
 * Owner (every capability, `tenant:*` included) can only be acted on by an Owner.
 */
export async function assertDominates(
  db: Executor,
  access: Access,
  targets: Target | readonly Target[],
  what: string,
  firstPartyScopes?: ReadonlyMap<string, readonly string[] | null>,
): Promise<void> {
  const list = Array.isArray(targets) ? (targets as readonly Target[]) : [targets as Target];
  const denied = await undominated(db, access, list, firstPartyScopes);
  if (!denied.size) return;
  const missing = [...new Set([...denied.values()].flat())].sort();
  throw forbidden('escalation_denied', `you can't ${what}: the target holds capabilities you don't hold`, { missing });
}
