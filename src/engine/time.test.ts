import { formatDuration, formatSpan, formatRecorded, parseDuration, parseFhirTime, shift } from './time';

describe('FHIR times', () => {
  it.each([
    ['2026-03-02T08:00:00Z', Date.UTC(2026, 2, 2, 8)],
    ['2026-03-02T08:00:00+02:00', Date.UTC(2026, 2, 2, 6)],
    ['2026-03-02T08:00:00.123Z', Date.UTC(2026, 2, 2, 8, 0, 0, 123)],
    ['2026-03-02', Date.UTC(2026, 2, 2)],
    ['2026-03', Date.UTC(2026, 2, 1)],
    ['2026', Date.UTC(2026, 0, 1)],
    ['2024-02-29T10:00:00+01:00', Date.UTC(2024, 1, 29, 9)],
    // a leap second (valid FHIR) is the last millisecond before it, on the same day
    ['2026-11-09T23:59:60Z', Date.UTC(2026, 10, 9, 23, 59, 59, 999)],
    ['2026-11-09T23:59:60.5+01:00', Date.UTC(2026, 10, 9, 22, 59, 59, 999)],
  ])('%s', (text, ms) => expect(parseFhirTime(text)).toBe(ms));
  // impossible dates are refused whatever the zone (Date.parse rolls 02-30 over into March)
  it.each(['2026-02-30', '2026-02-30T10:00:00+01:00', '2026-02-29T10:00:00-05:00', '2026-04-31T00:00:00Z', '2026-13-01', '03/02/2026', '', 'yesterday', 42])('rejects %p', (v) => expect(parseFhirTime(v)).toBeUndefined());
});

describe('durations', () => {
  it.each([
    ['14 days', { amount: 14, unit: 'days' }],
    ['72 hours', { amount: 72, unit: 'hours' }],
    ['1 month', { amount: 1, unit: 'months' }],
    ['30 min', { amount: 30, unit: 'minutes' }],
  ])('%s', (text, d) => expect(parseDuration(text)).toEqual(d));
  it('rejects fractional months and unknown units', () => {
    expect(parseDuration('1.5 months')).toBeUndefined();
    expect(parseDuration('2 fortnights')).toBeUndefined();
  });
  it('formats', () => expect([formatDuration({ amount: 1, unit: 'days' }), formatDuration({ amount: 24, unit: 'months' })]).toEqual(['1 day', '24 months']));
  // A span of 13 days 23 hours beside a rule of "at least 14 days" must not read "14 days".
  it('spans between records are rounded down: hours under two days, else days', () => {
    const H = 3_600_000;
    expect([0, 59 * 60_000, H, 6 * H, 47.9 * H, 48 * H, 13 * 24 * H + 23 * H, 14.5 * 24 * H].map(formatSpan)).toEqual([
      'less than an hour', 'less than an hour', '1 hour', '6 hours', '47 hours', '2 days', '13 days', '14 days',
    ]);
  });
});

describe('calendar arithmetic', () => {
  it('months are calendar months, clamped to the end of the month', () => {
    expect(new Date(shift(Date.UTC(2026, 2, 31), { amount: 1, unit: 'months' }, -1)).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(new Date(shift(Date.UTC(2026, 2, 31), { amount: 12, unit: 'months' }, -1)).toISOString()).toBe('2025-03-31T00:00:00.000Z');
    expect(new Date(shift(Date.UTC(2024, 1, 29), { amount: 1, unit: 'years' }, 1)).toISOString()).toBe('2025-02-28T00:00:00.000Z');
  });
  it('days and hours are exact', () => {
    expect(shift(0, { amount: 72, unit: 'hours' }, 1)).toBe(3 * 86_400_000);
    expect(shift(0, { amount: 14, unit: 'days' }, -1)).toBe(-14 * 86_400_000);
  });
});

describe('dates on cards are shown as the record wrote them', () => {
  // value, date, date and time
  it.each([
    ['2026-05-10T20:30:00-08:00', '2026-05-10', '2026-05-10 20:30 UTC-08:00'], // the 11th in UTC
    ['2026-05-10T20:30:00.123+05:30', '2026-05-10', '2026-05-10 20:30 UTC+05:30'],
    ['2026-05-10T20:30:00Z', '2026-05-10', '2026-05-10 20:30 UTC'],
    ['2026-05-10T20:30:00+00:00', '2026-05-10', '2026-05-10 20:30 UTC'],
    ['2026-05-10', '2026-05-10', '2026-05-10'], // no time of day: none is made up (not 00:00 UTC)
    ['2026-05', '2026-05', '2026-05'], // a month stays a month (not the 1st)
    ['2026', '2026', '2026'],
  ])('%s → %s / %s', (value, date, dateTime) => {
    const t = parseFhirTime(value)!;
    expect(formatRecorded(t, value)).toBe(date);
    expect(formatRecorded(t, value, true)).toBe(dateTime);
  });
  it('a text the pattern does not take apart falls back to the parsed time in UTC', () => {
    const t = Date.parse('2026-05-11T04:30:00Z');
    expect(formatRecorded(t, '')).toBe('2026-05-11');
    expect(formatRecorded(t, '', true)).toBe('2026-05-11 04:30 UTC');
  });
});
