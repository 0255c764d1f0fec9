/**
 * Removes floating-point noise (38.00000000000006 → 38, 1.2499999999999998 → 1.25) without touching real
 * precision: 12 significant digits, more than any laboratory reports. Unit conversions and the statistics the
 * rule files compare with a threshold go through it, so a value exactly on a threshold meets it.
 */
export function withoutFloatNoise(x: number): number {
  return Number(x.toPrecision(12));
}
