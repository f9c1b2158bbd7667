import { listAuditEvents, type AuditFilter, type ChainedAuditRow } from '../queries/audit.ts';
import type { Access } from './authority.ts';
import type { TenantChange } from './change.ts';

export type { AuditFilter } from '../queries/audit.ts';

/** Reading the audit log (SPEC §10); appending stays with AuditLog inside each change. */
export function createAuditEventService(deps: { change: TenantChange }) {
  return {
    /** Newest first; `beforeSeq` continues a previous page; one extra row tells whether more follow. */
    async list({ tenantId }: Access, filter: AuditFilter, opts: { limit: number; beforeSeq?: number | undefined }): Promise<{ rows: ChainedAuditRow[]; limit: number }> {
      const rows = await deps.change.read((tx) => listAuditEvents(tx, tenantId, filter, opts.beforeSeq, opts.limit + 1));
      return { rows, limit: opts.limit };
    },
  };
}

export type AuditEventService = ReturnType<typeof createAuditEventService>;
