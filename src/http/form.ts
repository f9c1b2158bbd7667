import { parse } from 'node:querystring';
import type { Context } from 'koa';
import { AppError } from '../errors/index.ts';
import { textProblem } from '../text/index.ts';

/**
 * Reads an application/x-www-form-urlencoded body up to `limit` bytes, every
 * value through the one text normaliser (SPEC §8); a password is refused when
 * unclean but kept byte for byte. Fields named in `lists` may repeat
 * (checkbox groups); any other repeated field is refused.
 */
export async function readFormFields(ctx: Context, opts: { limit?: number; lists?: readonly string[] } = {}): Promise<{ one: Record<string, string>; many: Record<string, string[]> }> {
  const limit = opts.limit ?? 16 * 1024;
  if (!ctx.is('application/x-www-form-urlencoded')) throw new AppError(415, 'unsupported_media_type', 'expected a form submission');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError(413, 'payload_too_large', 'form body too large');
    chunks.push(chunk as Buffer);
  }
  const parsed = parse(Buffer.concat(chunks).toString('utf8'));
  const lists = new Set(opts.lists ?? []);
  const one: Record<string, string> = {};
  const many: Record<string, string[]> = {};
  const clean = (k: string, v: string) => {
    const problem = textProblem(k) ?? textProblem(v);
    if (problem) throw new AppError(400, 'validation_failed', `the form field ${k} ${problem}`);
    return k === 'password' ? v : v.normalize('NFC');
  };
  for (const [k, v] of Object.entries(parsed)) {
    if (lists.has(k)) {
      many[k] = (Array.isArray(v) ? v : [v ?? '']).map((x) => clean(k, x));
      continue;
    }
    if (Array.isArray(v)) throw new AppError(400, 'duplicate_parameter', `parameter ${k} is repeated`);
    one[k] = clean(k, v ?? '');
  }
  return { one, many };
}

/** Reads a form whose fields all appear once (readFormFields). */
export async function readForm(ctx: Context, limit = 16 * 1024): Promise<Record<string, string>> {
  return (await readFormFields(ctx, { limit })).one;
}
