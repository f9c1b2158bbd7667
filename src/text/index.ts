import { remove as removeConfusables } from 'confusables';
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

/**
 * A name's skeleton for look-alike checks (in the spirit of UTS #39): compatibility
 * forms folded, confusable letters from other scripts mapped to Latin (the
 * `confusables` table), marks, spacing and punctuation dropped, case folded,
 * and the digit and letter shapes that pass for each other (0/o, 1/l/i) merged.
 * Two names with the same skeleton look the same to a person.
 */
export function skeleton(value: string): string {
  return removeConfusables(value.normalize('NFKC'))
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[\s\p{P}\p{S}]+/gu, '')
    .replace(/0/g, 'o')
    .replace(/[1i|]/g, 'l');
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):?(\d{2})?)$/i;

/**
 * True for an ISO 8601 date-time that exists on the calendar, in years
 * 1000–9999: JavaScript's Date quietly rolls 2024-02-30 over to March, and
 * Postgres refuses year 0, so both are caught here rather than as a 500.
 */
export function isCalendarDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1000 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  if (Number(m[7] ?? 0) > 23 || Number(m[8] ?? 0) > 59) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day >= 1 && day <= daysInMonth;
}
