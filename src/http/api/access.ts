import type { Access } from '../../services/authority.ts';
import type { Principal } from './principal.ts';

/** The service-layer view of a caller: tenant, actor and what they may grant. */
export async function accessOf(principal: Principal): Promise<Access> {
  return { tenantId: principal.tenantId, actor: principal.actor, held: await principal.held(), graph: () => principal.graph() };
}
