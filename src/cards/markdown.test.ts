/** Plain text for card summaries: comparators stay readable, markup and control characters do not survive. */
import { plainText } from './markdown';

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
