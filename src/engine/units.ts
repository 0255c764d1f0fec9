/**
 * UCUM unit normalisation through @lhncbc/ucum-lhc (the library fhirpath already uses).
 *
 * Conversions are cached per (from, to) pair as an affine map y = a·x + b, computed from two probe values:
 * every UCUM conversion ucum-lhc performs is linear or affine (temperature), so this is exact and turns a
 * ~0.5 ms library call into a multiplication. Units that cannot be converted are reported, never guessed.
 *
 * Arbitrary units (`[IU]`, `[arb'U]` …) are not commensurable with anything in UCUM, not even a prefixed form
 * of themselves; `m[IU]/L` → `u[IU]/mL` is nonetheless a pure scale change. Such pairs are converted by
 * standing in the same proper unit (mol) for the same arbitrary atom on both sides.
 */
import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import { withoutFloatNoise } from './numbers';

const utils = UcumLhcUtils.getInstance();

type Affine = { a: number; b: number } | { error: string };

/**
 * Unit strings come from request data, so each cache is bounded: past the cap the oldest entry is dropped
 * (a caller sending endless distinct units pays the library call each time, never memory).
 */
export const UNIT_CACHE_MAX = 1024;

/** A map that keeps its last UNIT_CACHE_MAX entries. */
function boundedCache<T>(): { get(key: string, compute: () => T): T; readonly size: number } {
  const cache = new Map<string, T>();
  return {
    get(key, compute) {
      if (cache.has(key)) return cache.get(key)!;
      const value = compute();
      if (cache.size >= UNIT_CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(key, value);
      return value;
    },
    get size() {
      return cache.size;
    },
  };
}

const conversions = boundedCache<Affine>();
const unitProblems = boundedCache<string | undefined>();

/** Pairs cached now (for tests and diagnostics). */
export function cachedConversions(): number {
  return conversions.size;
}

/** Units whose validity is cached now (for tests and diagnostics). */
export function cachedUnitChecks(): number {
  return unitProblems.size;
}

export type Conversion = { value: number } | { error: string };

/** Longest unit handed to ucum-lhc: its parser takes seconds on a unit of thousands of characters. */
const UNIT_MAX = 64;

/** Converts `value` from UCUM unit `from` to `to`. */
export function convert(value: number, from: string, to: string): Conversion {
  if (from === to) return { value };
  if (from.length > UNIT_MAX || to.length > UNIT_MAX) return { error: `a unit longer than ${UNIT_MAX} characters is not read` };
  const map = conversions.get(`${from}\u0000${to}`, () => affineFor(from, to));
  if ('error' in map) return map;
  return { value: withoutFloatNoise(map.a * value + map.b) };
}

/**
 * Unit text that records carry instead of UCUM, without a UCUM code ("°C", "hours"), and the UCUM unit it
 * names. Only spellings with a single meaning: `F` (farad in UCUM) or `IU/mL` (which international unit?) are
 * not guessed. Word spellings are looked up in lower case.
 */
export const UNIT_SPELLINGS: ReadonlyMap<string, string> = new Map([
  ['°C', 'Cel'],
  ['° C', 'Cel'],
  ['ºC', 'Cel'], // º is the ordinal indicator, often typed for the degree sign
  ['℃', 'Cel'],
  ['degc', 'Cel'],
  ['°F', '[degF]'],
  ['° F', '[degF]'],
  ['ºF', '[degF]'],
  ['℉', '[degF]'],
  ['degf', '[degF]'],
  ['mins', 'min'],
  ['minute', 'min'],
  ['minutes', 'min'],
  ['hr', 'h'],
  ['hrs', 'h'],
  ['hour', 'h'],
  ['hours', 'h'],
  ['uIU/mL', 'u[IU]/mL'],
  ['uIU/ml', 'u[IU]/mL'],
  ['µIU/mL', 'u[IU]/mL'],
  ['µIU/ml', 'u[IU]/mL'],
  ['μIU/mL', 'u[IU]/mL'],
  ['μIU/ml', 'u[IU]/mL'],
  ['mIU/L', 'm[IU]/L'],
  ['mIU/l', 'm[IU]/L'],
  ['mIU/mL', 'm[IU]/mL'],
  ['mIU/ml', 'm[IU]/mL'],
  ['kg/m^2', 'kg/m2'],
  ['kg/m²', 'kg/m2'],
  ['in', '[in_i]'],
  ['inch', '[in_i]'],
  ['inches', '[in_i]'],
]);

/** Why `unit` is not a UCUM unit (`"pgg is not a valid UCUM code."`), or undefined when it is one. */
export function unitProblem(unit: string): string | undefined {
  if (unit.length > UNIT_MAX) return `a unit longer than ${UNIT_MAX} characters is not read`;
  return unitProblems.get(unit, () => {
    const r = quietly(() => utils.validateUnitString(unit, false));
    return r.status === 'valid' ? undefined : (firstMessage(r.msg) ?? `"${unit}" is not a UCUM unit`);
  });
}

function affineFor(from: string, to: string): Affine {
  const direct = probe(from, to);
  if (!('error' in direct)) return direct;
  const arbitrary = /\[[^\]]*\]/g;
  const atomsFrom = from.match(arbitrary) ?? [];
  const atomsTo = to.match(arbitrary) ?? [];
  if (atomsFrom.length > 0 && atomsFrom.join() === atomsTo.join()) {
    const viaProper = probe(from.replace(arbitrary, 'mol'), to.replace(arbitrary, 'mol'));
    if (!('error' in viaProper)) return viaProper;
  }
  return direct;
}

function probe(from: string, to: string): Affine {
  const [at0, at1] = quietly(() => [utils.convertUnitTo(from, 0, to, { suggest: false }), utils.convertUnitTo(from, 1, to, { suggest: false })]);
  if (at0.status !== 'succeeded' || at1.status !== 'succeeded' || at0.toVal === null || at1.toVal === null) {
    const reason = firstMessage(at1.msg) ?? `cannot be converted to ${to}`;
    return { error: reason };
  }
  return { a: at1.toVal - at0.toVal, b: at0.toVal };
}

function firstMessage(msg: unknown): string | undefined {
  if (!Array.isArray(msg) || msg.length === 0) return undefined;
  return String(msg[0]).split('\n')[0];
}

/**
 * ucum-lhc reports some unparsable units with console.log, echoing the unit string: raw request data in
 * unstructured output, beside the service's JSON log. The reason is in the returned message anyway.
 */
function quietly<T>(call: () => T): T {
  const log = console.log;
  console.log = () => undefined;
  try {
    return call();
  } finally {
    console.log = log;
  }
}
