/**
 * The one text normaliser (SPEC §8 "Text input"). Every string that reaches
 * a service from outside (admin API params, queries and bodies, the sign-in
 * form) passes through `cleanText`: it is NFC-normalised, and refused when it
 * holds control characters (NUL included), lone surrogates, or invisible and
 * bidirectional-formatting characters (Unicode category Cf: zero-width
 * spaces and joiners, bidi overrides and isolates, BOM, soft hyphen…).
 */

// Cc: C0/C1 controls; Cf: format characters (invisible, bidi); Cs: surrogates (only lone ones survive in a JS string).
const FORBIDDEN = /[\p{Cc}\p{Cf}]/u;
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a string is refused, or undefined when it is clean. */
export function textProblem(value: string): string | undefined {
  // With the u flag a surrogate pair is one astral code point, so \p{Cs} matches lone surrogates only.
  if (LONE_SURROGATE.test(value)) return 'must not contain lone surrogates';
  if (FORBIDDEN.test(value)) return 'must not contain control, invisible or bidirectional-formatting characters';
  return undefined;
}

/** NFC form of a clean string; throws `TextError` otherwise. */
export function cleanText(value: string): string {
  const problem = textProblem(value);
  if (problem) throw new TextError(problem);
  return value.normalize('NFC');
}

export class TextError extends Error {
  override name = 'TextError';
}

/**
 * The one case folding (SPEC §8): used for the stored `email_key` that the
 * database's uniqueness, the sign-in lookup and the sign-in throttle all
 * compare. Compatibility forms fold (full-width letters, ligatures), case
 * folds, and a dotted capital I (`İ`, which lower-cases to `i` + U+0307)
 * folds to plain `i`, so one mailbox has one key however it is spelled.
 */
export function foldCase(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/i\u0307/g, 'i').normalize('NFKC').trim();
}

/** Fields kept byte for byte (still refused when unclean): secrets are compared, never displayed. */
const VERBATIM = new Set(['password', 'client_secret', 'secret']);

/**
 * Cleans every string in a parsed input (params, query, JSON body): NFC for
 * each, and a list of the paths that hold a refused string.
 */
export function cleanInput(value: unknown, path: string[] = []): { value: unknown; problems: { path: string[]; message: string }[] } {
  const problems: { path: string[]; message: string }[] = [];
  const walk = (v: unknown, at: string[]): unknown => {
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) {
        problems.push({ path: at, message: problem });
        return v;
      }
      return VERBATIM.has(at[at.length - 1] ?? '') ? v : v.normalize('NFC');
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, String(i)]));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const keyProblem = textProblem(k);
        if (keyProblem) problems.push({ path: [...at, '(key)'], message: keyProblem });
        out[k] = walk(x, [...at, k]);
      }
      return out;
    }
    return v;
  };
  return { value: walk(value, path), problems };
}
