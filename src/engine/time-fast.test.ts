/**
 * parseFhirTime reads the common forms digit by digit; the result must be exactly what the general path
 * (regular expression and Date.parse) gives, on every form and on near-misses of each.
 */
import { formatDate, formatDateTime, parseFhirTime, parseFhirTimeGeneral } from './time';

const forms = [
  '2026-03-02',
  '2026-03-02T08:00:00Z',
  '2026-03-02T08:00:00.1Z',
  '2026-03-02T08:00:00.12Z',
  '2026-03-02T08:00:00.123Z',
  '2026-03-02T08:00:00.1234Z',
  '2026-03-02T08:00:00+02:00',
  '2026-03-02T08:00:00-05:30',
  '2026-03-02T23:59:59.999+14:00',
  '2026-03-02T08:00:00.5-00:00',
];

/** Each form, and variants of it with one character changed, dropped or added. */
function variants(s: string): string[] {
  const out = [s, ` ${s}`, `${s} `, s.toLowerCase()];
  const alphabet = ['0', '1', '2', '3', '5', '9', '-', ':', 'T', 'Z', '+', '.', ' ', 'x'];
  for (let i = 0; i < s.length; i++) {
    out.push(s.slice(0, i) + s.slice(i + 1));
    for (const c of alphabet) {
      out.push(s.slice(0, i) + c + s.slice(i + 1));
      out.push(s.slice(0, i) + c + s.slice(i));
    }
  }
  return out;
}

it('gives what the general path gives, on the common forms and thousands of near-misses', () => {
  const inputs = forms.flatMap(variants);
  // Calendar edges: month lengths, leap years, hours/minutes/seconds at and past their limits, early years.
  for (const y of ['0999', '1000', '1900', '2000', '2024', '2025', '2100', '9999']) {
    for (const md of ['01-31', '02-28', '02-29', '02-30', '04-30', '04-31', '12-31', '13-01', '00-10', '06-00']) {
      inputs.push(`${y}-${md}`, `${y}-${md}T00:00:00Z`, `${y}-${md}T23:59:59.999Z`);
    }
  }
  for (const t of ['24:00:00', '23:60:00', '23:59:60', '00:00:00']) for (const z of ['Z', '+14:00', '+14:59', '+15:00', '-12:00', '+00:60']) inputs.push(`2026-01-31T${t}${z}`);
  expect(inputs.length).toBeGreaterThan(3000);
  for (const input of inputs) expect({ input, ms: parseFhirTime(input) }).toEqual({ input, ms: parseFhirTimeGeneral(input) });
});

it('formatDate and formatDateTime give what toISOString gives, for any time', () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  for (let i = 0; i < 20000; i++) {
    const ms = Math.round((Math.random() - 0.4) * 4e14); // years roughly -10,000 to +14,000
    expect(formatDate(ms)).toBe(iso(ms).slice(0, 10));
    expect(formatDateTime(ms)).toBe(`${iso(ms).slice(0, 16).replace('T', ' ')} UTC`);
  }
  expect(() => formatDate(NaN)).toThrow(RangeError);
});
