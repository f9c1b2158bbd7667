import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cleanInput, cleanText, foldCase, isCalendarDateTime, skeleton, textProblem } from './index.ts';

describe('the text normaliser', () => {
  it.each([
    ['NUL', 'a\u0000b'],
    ['a C1 control', 'a\u0085b'],
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00'],
    ['a right-to-left override', 'abc\u202Edef'],
    ['a bidi isolate', '\u2066x\u2069'],
    ['a zero-width space', 'Owner\u200B'],
    ['a zero-width joiner', 'a\u200Db'],
    ['a byte-order mark', '\uFEFFname'],
    ['a soft hyphen', 'ad\u00ADmin'],
  ])('refuses %s', (_what, value) => {
    expect(textProblem(value)).toBeDefined();
    expect(() => cleanText(value)).toThrow();
  });

  it('accepts ordinary text in any script and emoji, and returns NFC', () => {
    expect(cleanText('Jose\u0301 Müller 李 🙂')).toBe('José Müller 李 🙂');
    expect(textProblem('Ωmega')).toBeUndefined();
  });

  it('cleans nested input and reports each refused path', () => {
    const { value, problems } = cleanInput({ name: 'Cafe\u0301', tags: ['ok', 'bad\u0000'], password: 'Cafe\u0301' });
    expect(value).toEqual({ name: 'Café', tags: ['ok', 'bad\u0000'], password: 'Cafe\u0301' });
    expect(problems.map((p) => p.path.join('.'))).toEqual(['tags.1']);
  });

  it('never throws on arbitrary strings, and what it accepts is stable under a second pass', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite' }), fc.string({ unit: 'binary' }), (a, b) => {
        for (const s of [a, b, a + b]) {
          if (textProblem(s)) continue;
          const once = cleanText(s);
          expect(cleanText(once)).toBe(once);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('the one case folding', () => {
  it('gives one key for case, compatibility, composition and dotted-I variants of an address', () => {
    const key = foldCase('alice@example.com');
    for (const variant of ['ALICE@example.com', 'alİce@example.com', 'ＡＬＩＣＥ@example.com', 'Alice@Example.COM']) expect(foldCase(variant)).toBe(key);
    expect(foldCase('jose\u0301@example.com')).toBe(foldCase('jos\u00E9@example.com'));
    expect(foldCase('bob@example.com')).not.toBe(key);
  });
});

describe('skeletons of look-alike names', () => {
  it('maps look-alikes of a name to one skeleton and keeps different names apart', () => {
    const owner = skeleton('Owner');
    for (const variant of ['Оwner', 'OWNER', 'Ówner', '0wner', 'Ｏｗｎｅｒ', 'Own-er', 'ⲞWNER']) expect(skeleton(variant), variant).toBe(owner);
    expect(skeleton('Administrat0r')).toBe(skeleton('Administrator'));
    expect(skeleton('Viewers')).not.toBe(skeleton('Viewer'));
    expect(skeleton('Branding editor')).not.toBe(owner);
  });
});

describe('calendar date-times', () => {
  it.each(['2024-02-29T00:00:00Z', '2023-12-31T23:59:59.123456Z', '2026-11-29T21:00:00+01:00', '2026-11-29 21:00:00.5+00'])('accepts %s', (v) => expect(isCalendarDateTime(v)).toBe(true));
  it.each(['2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '0000-01-01T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01', 'soon'])('refuses %s', (v) =>
    expect(isCalendarDateTime(v)).toBe(false),
  );
});
