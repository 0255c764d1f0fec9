import { coefficientOfVariation, isMonotonic, lastToFirst, slopePerDay, span, type Point } from './temporal';

const DAY = 86_400_000;
const series = (...values: number[]): Point[] => values.map((v, i) => ({ t: i * 30 * DAY, v }));

describe('series statistics', () => {
  it('least-squares slope per day', () => {
    expect(slopePerDay(series(1, 2, 3))).toBeCloseTo(1 / 30, 10);
    expect(slopePerDay(series(3, 3, 3))).toBe(0);
    expect(slopePerDay([{ t: 0, v: 1 }])).toBeUndefined();
    expect(slopePerDay([{ t: 5, v: 1 }, { t: 5, v: 2 }])).toBeUndefined();
  });
  it('coefficient of variation uses the sample standard deviation (n − 1)', () => {
    // 1.6, 2.9, 1.7: sample SD 0.7234, mean 2.0667 → 35.0 %; population SD would give 28.6 %.
    expect(coefficientOfVariation(series(1.6, 2.9, 1.7))).toBeCloseTo(0.35, 3);
    expect(coefficientOfVariation(series(0, 0))).toBeUndefined();
  });
  it('monotonic allows ties', () => {
    expect(isMonotonic(series(2, 2, 5))).toBe(true);
    expect(isMonotonic(series(5, 4, 4))).toBe(true);
    expect(isMonotonic(series(2, 5, 3))).toBe(false);
  });
  it('last to first and span', () => {
    expect(lastToFirst(series(4, 5))).toBe(1.25);
    expect(lastToFirst(series(0, 5))).toBe(Infinity);
    expect(lastToFirst(series(0, 2, 0))).toBeUndefined();
    expect(span(series(1, 2, 3))).toBe(60 * DAY);
    expect(span(series(1))).toBe(0);
  });
  // In floating point 2.8 / 2.24 is 1.2499999999999998 and the CV of 2.86, 1.54, 2.2 is 0.29999999999999993:
  // a ratio or CV exactly on a rule's threshold (≥ 1.25, ≥ 30 %) must meet it.
  it('a ratio or CV exactly on a threshold is not pushed below it by floating-point noise', () => {
    expect(lastToFirst(series(2.24, 2.5, 2.8))).toBe(1.25);
    expect(lastToFirst(series(3.68, 4.6))).toBe(1.25);
    expect(coefficientOfVariation(series(2.86, 1.54, 2.2))).toBe(0.3);
    expect(coefficientOfVariation(series(9.1, 4.9, 7.0))).toBe(0.3);
  });
});
