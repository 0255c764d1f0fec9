/**
 * Generic statistics of a time series of exact values, sorted by time. The rule files decide what to
 * compare them with; nothing here knows about IL-6.
 */
import { withoutFloatNoise } from './numbers';
import { DAY_MS } from './time';

export interface Point {
  t: number; // epoch ms
  v: number;
}

/** Time from the first to the last point, in ms (0 for fewer than two points). */
export function span(points: Point[]): number {
  return points.length < 2 ? 0 : points[points.length - 1]!.t - points[0]!.t;
}

/** Ordinary least-squares slope of value over time, in value units per day; undefined if not computable. */
export function slopePerDay(points: Point[]): number | undefined {
  if (points.length < 2) return undefined;
  const t0 = points[0]!.t;
  const xs = points.map((p) => (p.t - t0) / DAY_MS);
  const mx = mean(xs);
  const my = mean(points.map((p) => p.v));
  let sxy = 0;
  let sxx = 0;
  points.forEach((p, i) => {
    const dx = xs[i]! - mx;
    sxy += dx * (p.v - my);
    sxx += dx * dx;
  });
  return sxx === 0 ? undefined : sxy / sxx;
}

/** Coefficient of variation: sample standard deviation (n − 1) over the mean; undefined when mean is 0. */
export function coefficientOfVariation(points: Point[]): number | undefined {
  if (points.length < 2) return undefined;
  const values = points.map((p) => p.v);
  const m = mean(values);
  if (m === 0) return undefined;
  const variance = values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1);
  return withoutFloatNoise(Math.sqrt(variance) / Math.abs(m));
}

/** True when the values never go down, or never go up (ties allowed). */
export function isMonotonic(points: Point[]): boolean {
  let up = true;
  let down = true;
  for (let i = 1; i < points.length; i++) {
    const d = points[i]!.v - points[i - 1]!.v;
    if (d < 0) up = false;
    if (d > 0) down = false;
  }
  return up || down;
}

/**
 * Last value over first value; undefined when there are no points or both are 0. From a first value of 0 any
 * greater last value is Infinity, so "last ≥ k × first" holds for it as it does for the values themselves.
 */
export function lastToFirst(points: Point[]): number | undefined {
  if (points.length === 0) return undefined;
  const first = points[0]!.v;
  const last = points[points.length - 1]!.v;
  if (first === 0) return last > 0 ? Infinity : undefined;
  return withoutFloatNoise(last / first);
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}
