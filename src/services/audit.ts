import { createHash, randomUUID } from 'node:crypto';
import { afterCommit, type Database, type Executor, type Tx } from '../db/client.ts';
import { chainPage, countUnchained, insertAuditRows, lockTenantChain, setChainLinks, tenantsWithUnchained, unchainedEventsAndHead, type AuditRow } from '../queries/audit.ts';
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

type HashedFields = Pick<AuditRow, 'id' | 'tenantId' | 'at' | 'actorType' | 'actorId' | 'action' | 'targetType' | 'targetId' | 'data' | 'parentId' | 'requestId'> & {
  seq: number;
  prevHash: string;
};

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

/**
 * The audit log. `record` inserts a change's events in the change's own
 * transaction; the chainer links them into the tenant's hash chain right
 * after the commit, before the change returns to its caller.
 *
 * Why after commit: taking the chain's head inside every change serialised a
 * tenant's writes for the length of their transactions (bench/admin). Now a
 * change takes no chain lock at all; the chainer's short transaction takes
 * the head, gives every committed unchained event the next `seq` in insertion
 * order (`pos`) and its hash, and many concurrent changes share one run.
 *
 * What the chain promises (docs/security.md): once an event is chained, any
 * edit, deletion, reordering or insertion inside the chain breaks
 * verification at that `seq`, and the head hash commits to everything before
 * it. An event is unchained only between its commit and the chainer's run
 * (milliseconds), or after a crash in that window until the next change of
 * the tenant or the worker's sweep chains it; `verifyChain` reports how many
 * are waiting.
 */
export interface AuditLog {
  record(tx: Tx, tenantId: string, events: AuditInput | AuditInput[]): Promise<string[]>;
  /** Chains the tenant's committed, unchained events; resolves when every event committed before the call is chained. */
  link(tenantId: string): Promise<void>;
  /** Chains what a crash left unchained for longer than `olderThanMs`; returns how many tenants it visited. */
  sweep(olderThanMs?: number): Promise<number>;
  verifyChain(db: Executor, tenantId: string): Promise<ChainVerification>;
}

export type ChainVerification =
  | { ok: true; events: number; unchained: number }
  | { ok: false; events: number; unchained: number; brokenAtSeq: number; reason: string };

/** Events chained per chainer transaction. */
const LINK_BATCH = 5_000;

export function createAuditLog(deps: { db: Database; onError?: (err: unknown, tenantId: string) => void }): AuditLog {
  const { db } = deps;

  /** One pass: links every unchained event committed before it started, in batches. */
  async function linkPending(tenantId: string): Promise<void> {
    for (;;) {
      const linked = await db.transaction(async (tx) => {
        await lockTenantChain(tx, tenantId);
        const { pending, head } = await unchainedEventsAndHead(tx, tenantId, LINK_BATCH);
        if (!pending.length) return 0;
        let seq = head?.seq ?? 0;
        let prevHash = head?.hash ?? GENESIS;
        const links = pending.map((row) => {
          seq += 1;
          const hash = eventHash({ ...row, seq, prevHash });
          const link = { id: row.id, seq, prevHash, hash };
          prevHash = hash;
          return link;
        });
        await setChainLinks(tx, links);
        return pending.length;
      });
      if (linked < LINK_BATCH) return;
    }
  }

  // One pass at a time per tenant in this process. Callers that arrive while a pass runs are served by
  // the next one, since the running pass may have read the unchained events before their commit.
  const queues = new Map<string, { running: boolean; waiting: { resolve: () => void; reject: (e: unknown) => void }[] }>();
  async function pump(tenantId: string, queue: { running: boolean; waiting: { resolve: () => void; reject: (e: unknown) => void }[] }) {
    queue.running = true;
    while (queue.waiting.length) {
      const served = queue.waiting.splice(0);
      try {
        await linkPending(tenantId);
        for (const w of served) w.resolve();
      } catch (err) {
        for (const w of served) w.reject(err);
      }
    }
    queues.delete(tenantId);
  }

  const log: AuditLog = {
    async record(tx, tenantId, input) {
      const events = Array.isArray(input) ? input : [input];
      if (events.length === 0) return [];
      const requestId = currentRequest()?.requestId ?? null;
      const at = new Date();
      const rows = events.map((e) => ({
        id: e.id ?? randomUUID(),
        tenantId,
        at,
        actorType: e.actor.type,
        actorId: e.actor.id,
        action: e.action,
        targetType: e.target?.type ?? null,
        targetId: e.target?.id ?? null,
        data: JSON.parse(canonicalJson(e.data ?? {})) as Record<string, unknown>,
        parentId: e.parentId ?? null,
        requestId,
      }));
      await insertAuditRows(tx, rows);
      // The change is committed by then: a failure to chain must not fail it. The events wait, unchained,
      // for the tenant's next change or the sweep.
      afterCommit(tx, `audit-chain:${tenantId}`, () => log.link(tenantId).catch((err: unknown) => deps.onError?.(err, tenantId)));
      return rows.map((r) => r.id);
    },

    link(tenantId) {
      let queue = queues.get(tenantId);
      if (!queue) {
        queue = { running: false, waiting: [] };
        queues.set(tenantId, queue);
      }
      const q = queue;
      return new Promise<void>((resolve, reject) => {
        q.waiting.push({ resolve, reject });
        if (!q.running) void pump(tenantId, q);
      });
    },

    async sweep(olderThanMs = 10_000) {
      const tenants = await tenantsWithUnchained(db, new Date(Date.now() - olderThanMs));
      for (const tenantId of tenants) await log.link(tenantId);
      return tenants.length;
    },

    async verifyChain(exec, tenantId) {
      const unchained = await countUnchained(exec, tenantId);
      let prev = GENESIS;
      let expectedSeq = 1;
      let count = 0;
      for (;;) {
        const page = await chainPage(exec, tenantId, expectedSeq - 1, 5_000);
        for (const row of page) {
          const broken = (reason: string, at = row.seq!) => ({ ok: false as const, events: count, unchained, brokenAtSeq: at, reason });
          if (row.seq !== expectedSeq) return broken('missing event', expectedSeq);
          if (row.prevHash !== prev) return broken('previous hash mismatch');
          if (row.hash === null || eventHash({ ...row, seq: row.seq, prevHash: row.prevHash }) !== row.hash) return broken('event hash mismatch');
          prev = row.hash;
          expectedSeq += 1;
          count += 1;
        }
        if (page.length < 5_000) return { ok: true, events: count, unchained };
      }
    },
  };
  return log;
}
