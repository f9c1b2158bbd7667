import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** What was written: rows, and the SHA-256 and size of the gzip file's bytes. */
export interface WrittenFile {
  rows: number;
  sha256: string;
  bytes: number;
}

/**
 * gzip level 6 (zlib's default). Compression runs on libuv's thread pool,
 * overlapping Postgres and the JS side, so on the bench (1M events, 2 cores)
 * level 6 still finishes in ~11 s for 111 MB; level 1 halves zlib's CPU but
 * gives a ~7% larger file, and the export is not zlib-bound enough to gain
 * much (bench/export.ts).
 */
export const GZIP_LEVEL = 6;

/** Bytes encoded per gzip write; one buffer of this size is reused for the whole export. */
const SCRATCH_BYTES = 2 * 1024 * 1024;

/** A piece of the export: text parts to append, and how many rows they hold. */
export interface Piece {
  parts: readonly string[];
  rows: number;
}

/**
 * Writes `pieces` gzip-compressed to `path`, atomically: bytes go to
 * `<path>.partial` (truncated first, so a retry starts from scratch) and the
 * file is renamed into place only once complete and synced. Memory stays
 * constant: text is UTF-8-encoded into one reused buffer, which is handed to
 * gzip and refilled only once gzip has consumed it (drained), so neither a
 * backlog nor a stream of short-lived buffers builds up. The hash and size
 * are taken over the compressed bytes as they pass to disk.
 */
export async function writeGzipFile(path: string, pieces: AsyncIterable<Piece>, opts: { level?: number; onRows?: (rows: number) => Promise<void> | void } = {}): Promise<WrittenFile> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  const gzip = createGzip({ level: opts.level ?? GZIP_LEVEL, chunkSize: 64 * 1024 });
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const written = pipeline(gzip, meter, createWriteStream(partial, { flags: 'w' }));
  written.catch(() => undefined); // observed below; a failure must not surface as unhandled meanwhile
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  let used = 0;
  // Resolves once gzip has consumed the chunk (its write callback), so the buffer may be refilled.
  const put = (chunk: Buffer | string) =>
    Promise.race([
      new Promise<void>((resolve, reject) => gzip.write(chunk, (err) => (err ? reject(err) : resolve()))),
      written.then(() => {
        throw new Error('the gzip pipeline ended early');
      }),
    ]);
  const flush = async () => {
    if (used === 0) return;
    const n = used;
    used = 0;
    await put(scratch.subarray(0, n));
  };
  let rows = 0;
  try {
    for await (const piece of pieces) {
      for (const part of piece.parts) {
        const size = Buffer.byteLength(part);
        if (used + size > scratch.length) await flush();
        if (size > scratch.length) await put(part); // larger than the buffer (an event with huge data): written on its own
        else used += scratch.write(part, used);
      }
      rows += piece.rows;
      await flush();
      await opts.onRows?.(rows);
    }
    gzip.end();
    await written;
  } catch (err) {
    gzip.destroy(err as Error);
    await written.catch(() => undefined);
    throw err;
  }
  // The record that points at the file commits after this; the bytes must be on disk first.
  const fh = await open(partial, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(partial, path);
  return { rows, sha256: hash.digest('hex'), bytes };
}
