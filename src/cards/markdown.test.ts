/** Plain text for card summaries: comparators stay readable, markup and control characters do not survive. */
import { escapeMarkdown, plainText, readableText } from './markdown';

it.each([
  ['>3 pg/mL', 'above 3 pg/mL'],
  ['>=7 pg/mL', '≥7 pg/mL'],
  ['<1.5 pg/mL', 'below 1.5 pg/mL'],
  ['<= 1.5 pg/mL', '≤1.5 pg/mL'],
  ['IL-6 >3 pg/mL on 2026-03-02', 'IL-6 above 3 pg/mL on 2026-03-02'],
  ['<script>alert(1)</script>', 'scriptalert(1)/script'],
  ['a <b> c', 'a b c'],
  ['5.1 pg/mL', '5.1 pg/mL'],
  ['line\nbreak\u0000x', 'line break x'],
])('plainText(%j) is %j', (input, want) => {
  expect(plainText(input)).toBe(want);
});

describe('record text in Markdown makes no link, even a bare one (GFM autolinks)', () => {
  it.each([
    ['Flu https://evil.example/login', 'Flu https\\://evil.example/login'],
    ['see HTTP://x.example', 'see HTTP\\://x.example'],
    ['www.evil.example', 'www\\.evil.example'],
    ['call WWW.evil.example now', 'call WWW\\.evil.example now'],
    ['mail me@evil.example', 'mail me\\@evil.example'],
    ['[x](javascript:alert(1))', '\\[x\\](javascript:alert(1))'],
    ['5.1 pg/mL at 08:00', '5.1 pg/mL at 08:00'],
    ['awww.', 'awww.'],
    // GFM links www. after "_" too (the audit's "x _www.evil.example/login" rendered a link).
    ['x _www.evil.example/login', 'x \\_www\\.evil.example/login'],
    ['x~www.evil.example', 'x\\~www\\.evil.example'],
    // GFM strikethrough: a condition on file must not read as struck out (ruled out).
    ['~~Rheumatoid arthritis~~', '\\~\\~Rheumatoid arthritis\\~\\~'],
  ])('escapeMarkdown(%j) is %j, which reads as the original', (input, want) => {
    expect(escapeMarkdown(input)).toBe(want);
    expect(readableText(escapeMarkdown(input))).toBe(input);
  });
});

describe('record text cannot change how the rest of the line is shown', () => {
  it.each([
    // A right-to-left override made "on 2026-11-16" after it read "61-11-6202 no".
    ['Sepsis \u202eon 2026', 'Sepsis on 2026'],
    ['\u202elm/gp', 'lm/gp'],
    ['a\u2066b\u2069c\u200fd\u200ee', 'abcde'],
    ['zero\u200bwidth\u2060joined\ufeff', 'zerowidthjoined'],
    ['C1\u0085next\u009bline', 'C1 next line'],
  ])('%j → %j in Markdown and in plain text', (input, want) => {
    expect(escapeMarkdown(input)).toBe(want);
    expect(plainText(input)).toBe(want);
  });

  it('keeps the zero-width joiners that scripts and emoji need', () => {
    expect(escapeMarkdown('👩\u200d⚕️ می\u200cخواهم')).toBe('👩\u200d⚕️ می\u200cخواهم');
  });
});
