import { parse } from 'node:querystring';
import type { Context } from 'koa';
import { AppError } from '../errors/index.ts';
import { textProblem } from '../text/index.ts';

/** Reads an application/x-www-form-urlencoded body up to `limit` bytes; repeated fields are rejected. */
export async function readForm(ctx: Context, limit = 16 * 1024): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new AppError(415, 'unsupported_media_type', 'expected a form submission');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError(413, 'payload_too_large', 'form body too large');
    chunks.push(chunk as Buffer);
  }
  const parsed = parse(Buffer.concat(chunks).toString('utf8'));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (Array.isArray(v)) throw new AppError(400, 'duplicate_parameter', `parameter ${k} is repeated`);
    // The one text normaliser (SPEC §8); the password is refused when unclean but kept byte for byte.
    const problem = textProblem(k) ?? textProblem(v ?? '');
    if (problem) throw new AppError(400, 'validation_failed', `the form field ${k} ${problem}`);
    out[k] = k === 'password' ? (v ?? '') : (v ?? '').normalize('NFC');
  }
  return out;
}
