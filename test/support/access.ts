import { ALL_CAPABILITY_IDS } from '../../src/catalogue/index.ts';
import { SYSTEM_ACTOR } from '../../src/services/audit.ts';
import type { Access } from '../../src/services/authority.ts';

/**
 * An Owner's authority (every capability) for setting data up through the
 * same service methods the API calls; there are no special variants.
 */
export const ownerAccess = (tenantId: string): Access => ({ tenantId, actor: SYSTEM_ACTOR, held: new Set(ALL_CAPABILITY_IDS) });
