import { createHash, randomUUID } from 'node:crypto';
import type { Executor, Tx } from '../db/client.ts';
import { chainHead, chainPage, insertAuditRows, lockTenantChain, type AuditRow } from '../queries/audit.ts';
import { currentRequest } from '../runtime/requestContext.ts';

export interface Actor {
  type: 'user' | 'client' | 'system';
  id: string | null;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ type: 'system', id: null });

export interface AuditInput {
  actor: Actor;
  action: string;
  target?: { type: string; id: string } | undefined;
  data?: Record<string, unknown>;
  parentId?: string | null;
  /** Set to reuse a precomputed id (parents that children point to). */
  id?: string;
}

const GENESIS = '0'.repeat(64);

/** JSON with sorted keys, so a row hashes the same after a round trip through jsonb. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

type HashedFields = Pick<
  AuditRow,
  'id' | 'tenantId' | 'seq' | 'at' | 'actorType' | 'actorId' | 'action' | 'targetType' | 'targetId' | 'data' | 'parentId' | 'requestId' | 'prevHash'
>;

/** The hash of one event: SHA-256 over the previous hash and the event's canonical fields. */
export function eventHash(e: HashedFields): string {
  const body = canonicalJson({
    id: e.id,
    tenant: e.tenantId,
    seq: e.seq,
    at: e.at.toISOString(),
    actor: [e.actorType, e.actorId],
    action: e.action,
    target: [e.targetType, e.targetId],
    data: e.data,
    parent: e.parentId,
    request: e.requestId,
  });
  return createHash('sha256').update(e.prevHash).update('\n').update(body).digest('hex');
}

/** Appends audit events. Always called inside the transaction of the change it records. */
export interface AuditLog {
  record(tx: Tx, tenantId: string, events: AuditInput | AuditInput[]): Promise<string[]>;
  verifyChain(db: Executor, tenantId: string): Promise<ChainVerification>;
}

export type ChainVerification = { ok: true; events: number } | { ok: false; events: number; brokenAtSeq: number; reason: string };

export function createAuditLog(): AuditLog {
  return {
    async record(tx, tenantId, input) {
      const events = Array.isArray(input) ? input : [input];
      if (events.length === 0) return [];
      await lockTenantChain(tx, tenantId);
      const head = await chainHead(tx, tenantId);
      let seq = head?.seq ?? 0;
      let prevHash = head?.hash ?? GENESIS;
      const requestId = currentRequest()?.requestId ?? null;
      const at = new Date();
      const rows = events.map((e) => {
        seq += 1;
        const row = {
          id: e.id ?? randomUUID(),
          tenantId,
          seq,
          at,
          actorType: e.actor.type,
          actorId: e.actor.id,
          action: e.action,
          targetType: e.target?.type ?? null,
          targetId: e.target?.id ?? null,
          data: JSON.parse(canonicalJson(e.data ?? {})) as Record<string, unknown>,
          parentId: e.parentId ?? null,
          requestId,
          prevHash,
        };
        const hash = eventHash(row);
        prevHash = hash;
        return { ...row, hash };
      });
      await insertAuditRows(tx, rows);
      return rows.map((r) => r.id);
    },

    async verifyChain(db, tenantId) {
      let prev = GENESIS;
      let expectedSeq = 1;
      let count = 0;
      for (;;) {
        const page = await chainPage(db, tenantId, expectedSeq - 1, 5_000);
        for (const row of page) {
          if (row.seq !== expectedSeq) return { ok: false, events: count, brokenAtSeq: expectedSeq, reason: 'missing event' };
          if (row.prevHash !== prev) return { ok: false, events: count, brokenAtSeq: row.seq, reason: 'previous hash mismatch' };
          if (eventHash(row) !== row.hash) return { ok: false, events: count, brokenAtSeq: row.seq, reason: 'event hash mismatch' };
          prev = row.hash;
          expectedSeq += 1;
          count += 1;
        }
        if (page.length < 5_000) return { ok: true, events: count };
      }
    },
  };
}
