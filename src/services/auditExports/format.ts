import type { ExportChunk } from '../../queries/exports.ts';
import type { Piece } from './writer.ts';

export { CSV_HEADER, type ExportFormat } from '../../queries/exports.ts';

/** A fetched batch of chunks as one piece to write: their texts in order, and how many events they hold. */
export function pieceOf(batch: readonly ExportChunk[]): Piece {
  let rows = 0;
  for (const c of batch) rows += c.n;
  return { parts: batch.map((c) => c.text), rows };
}
