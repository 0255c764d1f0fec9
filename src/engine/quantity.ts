/**
 * Measured values with their comparators, and the comparisons the rules make on them.
 *
 * A value is the set of true values it allows: exact 5 → [5, 5]; `<1.5` → (−∞, 1.5); `>=7` → [7, ∞); `>7` → (7, ∞),
 * or [7, ∞) where the fact reads `>X` as "at least X" (clinical-rules.md §1 for IL-6: "`>` / `>=` means 'at least X'").
 * Every test (`above`, `atLeast`, `atMost`, `below`) holds only when it holds for every value the set allows: a
 * comparator value that cannot be shown above a threshold is not above it, and one that cannot be shown at most a
 * threshold is not at most it either — `<5` mg/L is neither above 3 nor at most 3 (undecided).
 */
import { clipRecordText } from './record-text';
import { convert, UNIT_SPELLINGS, unitProblem } from './units';

export type Comparator = '<' | '<=' | '>' | '>=';

export interface Measured {
  /** Normalised to the fact's unit. */
  value: number;
  comparator?: Comparator;
  unit: string;
  /** As the record reported it, for display: "0.0051 ng/mL", "<1.5 pg/mL". */
  reported: string;
  /** `>X` is read as "at least X" (the fact's `greaterThan: atLeast`), not as above X. */
  greaterThanAtLeast?: boolean;
  /** Normalisation changed the unit's size (100.4 [degF] → 38 Cel): cards show the reported value beside it. */
  converted?: boolean;
}

/** How a fact reads a `>X` value: as above X (what it says; the default) or as at least X. */
export type GreaterThanReading = 'above' | 'atLeast';

export interface ValueTest {
  above?: number;
  atLeast?: number;
  below?: number;
  atMost?: number;
  /** The value lies on a known side of this limit: certainly above it, or certainly at most it. */
  sideOf?: number;
  /** The value cannot be shown to be above this limit (the complement of `above`: `>=2.5` is not above 3). */
  notAbove?: number;
}

function lowerBound(m: Measured): { v: number; open: boolean } {
  switch (m.comparator) {
    case '<':
    case '<=':
      return { v: -Infinity, open: true };
    case '>':
      return { v: m.value, open: !m.greaterThanAtLeast };
    default:
      return { v: m.value, open: false };
  }
}

function upperBound(m: Measured): { v: number; open: boolean } {
  switch (m.comparator) {
    case '<':
      return { v: m.value, open: true };
    case '>':
    case '>=':
      return { v: Infinity, open: true };
    default:
      return { v: m.value, open: false };
  }
}

export function isAbove(m: Measured, x: number): boolean {
  const lb = lowerBound(m);
  return lb.v > x || (lb.v === x && lb.open);
}

export function isAtLeast(m: Measured, x: number): boolean {
  return lowerBound(m).v >= x;
}

export function isAtMost(m: Measured, x: number): boolean {
  return upperBound(m).v <= x;
}

export function isBelow(m: Measured, x: number): boolean {
  const ub = upperBound(m);
  return ub.v < x || (ub.v === x && ub.open);
}

export function passes(m: Measured, t: ValueTest): boolean {
  if (t.above !== undefined && !isAbove(m, t.above)) return false;
  if (t.atLeast !== undefined && !isAtLeast(m, t.atLeast)) return false;
  if (t.atMost !== undefined && !isAtMost(m, t.atMost)) return false;
  if (t.below !== undefined && !isBelow(m, t.below)) return false;
  if (t.sideOf !== undefined && !isAbove(m, t.sideOf) && !isAtMost(m, t.sideOf)) return false;
  if (t.notAbove !== undefined && isAbove(m, t.notAbove)) return false;
  return true;
}

/** Ordered bands of a value, e.g. IL-6 tiers; each band holds values up to its limit. */
export interface Band {
  name: string;
  /** The band holds values strictly below this limit … */
  below?: number;
  /** … or values up to and including this one. The last band has neither. */
  atMost?: number;
}

/** The band of a value; for a comparator value that spans several bands, "first–last" (`optimal–elevated`). */
export function bandOf(m: Measured, bands: Band[]): string {
  // The band of `v` itself ('at'), or of the values just below it (the top of `<v`) or just above it (the bottom
  // of a strict `>v`).
  const of = (v: number, side: 'at' | 'justBelow' | 'justAbove'): string => {
    for (const b of bands) {
      if (b.below !== undefined && (v < b.below || (side === 'justBelow' && v === b.below))) return b.name;
      if (b.atMost !== undefined && (v < b.atMost || (side !== 'justAbove' && v === b.atMost))) return b.name;
    }
    return bands[bands.length - 1]!.name;
  };
  switch (m.comparator) {
    case '<':
    case '<=': {
      const top = of(m.value, m.comparator === '<' ? 'justBelow' : 'at');
      const bottom = bands[0]!.name;
      return top === bottom ? top : `${bottom}–${top}`;
    }
    case '>':
    case '>=': {
      const low = of(m.value, lowerBound(m).open ? 'justAbove' : 'at');
      const top = bands[bands.length - 1]!.name;
      return low === top ? low : `${low}–${top}`;
    }
    default:
      return of(m.value, 'at');
  }
}

export interface QuantityInput {
  value?: unknown;
  comparator?: unknown;
  unit?: unknown;
  code?: unknown;
  system?: unknown;
}

export type Normalised = { measured: Measured } | { problem: string };

const UCUM = 'http://unitsofmeasure.org';

export interface Reading {
  /** The only units read (each converts to the target). */
  units?: ReadonlySet<string>;
  /** Unit text or codes that mean another UCUM unit for this test ("mU/L" → m[IU]/L for insulin). */
  readAs?: ReadonlyMap<string, string>;
  /** How `>X` is read (default: above X). */
  greaterThan?: GreaterThanReading;
}

/** A FHIR Quantity normalised to `target` (UCUM). The problem text is shown to clinicians. */
export function normaliseQuantity(q: QuantityInput, target: string, reading: Reading = {}): Normalised {
  const { units: accepted, readAs, greaterThan = 'above' } = reading;
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) return { problem: 'no numeric value' };
  const coded = ucumCode(q);
  const unit = coded && (readAs?.get(coded) ?? coded);
  const shown = clipRecordText(typeof q.unit === 'string' ? q.unit : typeof q.code === 'string' ? q.code : '');
  const comparator = isComparator(q.comparator) ? q.comparator : undefined;
  const reported = `${comparator ?? ''}${q.value}${shown ? ` ${shown}` : ''}`;
  if (!unit) return { problem: `value ${reported} has no unit` };
  const disagreement = unitCodeDisagreement(q, unit, coded, readAs);
  if (disagreement) return { problem: disagreement };
  if (accepted && !accepted.has(unit)) return { problem: `unit ${shown || unit} is not one the rules read (${[...accepted].join(', ')})` };
  const c = convert(q.value, unit, target);
  if ('error' in c) return { problem: `unit ${shown || unit} cannot be converted to ${target}` };
  if (!Number.isFinite(c.value)) return { problem: `value ${reported} is out of range in ${target}` };
  const measured: Measured = { value: c.value, comparator, unit: target, reported };
  if (comparator === '>' && greaterThan === 'atLeast') measured.greaterThanAtLeast = true;
  // Converted when the unit differs in size, not when the number merely lost float noise (pg/ml → pg/mL).
  if (unit !== target && !sameSize(unit, target)) measured.converted = true;
  return { measured };
}

/**
 * `<1.5`, `<= 1.5 pg/mL`, `>5000`: the string forms labs use for values outside the measuring range. Matched on
 * the trimmed text, so no two `\s*` meet (adjacent ones backtrack quadratically on a long run of spaces).
 */
const VALUE_STRING = /^(<=|>=|<|>)?\s*(\d+(?:\.\d+)?)\s*([^\s\d].*)?$/;
/** Longer text is a sentence, not a value. */
const VALUE_STRING_MAX = 64;

export function parseValueString(text: string, fallbackUnit: string | undefined): QuantityInput | undefined {
  const trimmed = text.trim();
  if (trimmed.length > VALUE_STRING_MAX) return undefined;
  const m = VALUE_STRING.exec(trimmed);
  if (!m) return undefined;
  const unit = m[3]?.trim() || fallbackUnit;
  return { comparator: m[1], value: Number(m[2]), unit, code: unit, system: UCUM };
}

/**
 * A Quantity whose human `unit` is itself a UCUM unit, or a common spelling of one, that differs in size from its
 * coded unit ({ value: 0.012, unit: "ng/mL", code: "pg/mL" }; { value: 38.6, unit: "°C", code: "[degF]" }) is
 * ambiguous: reading either would misstate the value, so it is excluded with both named. A `unit` that is only
 * display text ("Body temp") or the same unit spelled differently ("pg/ml", "°C" for Cel) is not a disagreement.
 */
function unitCodeDisagreement(q: QuantityInput, code: string, recordedCode: string, readAs: ReadonlyMap<string, string> | undefined): string | undefined {
  const text = typeof q.unit === 'string' ? q.unit.trim() : '';
  const unit = readAs?.get(text) ?? asUcum(text);
  if (!unit || unit === code || DEGREE_LETTERS.get(text) === code) return undefined;
  // Not UCUM (and no known spelling of it): display text, which defers to the code.
  if (sameSize(unit, code) || unitProblem(unit) !== undefined) return undefined;
  return `unit ${clipRecordText(text)} and its UCUM code ${clipRecordText(recordedCode)} disagree`;
}

/** "C" and "F" beside a temperature code are its degree letter, not coulomb or farad (which UCUM would read). */
const DEGREE_LETTERS: ReadonlyMap<string, string> = new Map([
  ['C', 'Cel'],
  ['F', '[degF]'],
]);

/** Both UCUM units, and 1 of one is 1 of the other (pg/ml and pg/mL; not Cel and [degF], not pg/mL and ng/mL). */
function sameSize(a: string, b: string): boolean {
  const c = convert(1, a, b);
  return 'value' in c && c.value === 1;
}

function ucumCode(q: QuantityInput): string | undefined {
  // Prefer the coded unit when it is UCUM; else the human unit, which is usually UCUM ("pg/mL") or a common
  // spelling of one ("°C", "hours").
  if (typeof q.code === 'string' && q.code && (q.system === undefined || q.system === UCUM)) return q.code;
  return asUcum(typeof q.unit === 'string' ? q.unit.trim() : '') || undefined;
}

/** Unit text as UCUM: itself, or the UCUM unit a common spelling of it names ("°C" → Cel). */
function asUcum(text: string): string {
  return UNIT_SPELLINGS.get(text) ?? UNIT_SPELLINGS.get(text.toLowerCase()) ?? text;
}

function isComparator(v: unknown): v is Comparator {
  return v === '<' || v === '<=' || v === '>' || v === '>=';
}

/** Numbers for people: at most 4 significant digits, no trailing zeros (5.10 → 5.1, 5000 → 5000). */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

/** UCUM codes that are not what people write ("Cel"), and the unit text cards show for them. */
const UNIT_FOR_PEOPLE: ReadonlyMap<string, string> = new Map([
  ['Cel', '°C'],
  ['[degF]', '°F'],
  ['u[IU]/mL', 'µIU/mL'],
  ['m[IU]/L', 'mIU/L'],
  ['kg/m2', 'kg/m²'],
  ['[in_i]', 'in'],
]);

/** A UCUM unit as cards show it: "°C" for Cel; a unit that is only an annotation ("{score}") shows as nothing. */
export function unitForPeople(unit: string): string {
  return UNIT_FOR_PEOPLE.get(unit) ?? (/^\{[^}]*\}$/.test(unit) ? '' : unit);
}

/** "5.1 pg/mL", "<1.5 pg/mL", "38 °C". */
export function formatMeasured(m: Measured): string {
  const unit = unitForPeople(m.unit);
  // A `>X` read as "at least X" is shown as read (">=X", "≥X" in a summary); the record's ">X" stays in "as reported".
  const comparator = m.comparator === '>' && m.greaterThanAtLeast ? '>=' : m.comparator ?? '';
  return `${comparator}${formatNumber(m.value)}${unit ? ` ${unit}` : ''}`;
}

/** The normalised value, and the value as reported when normalising changed it: "38 °C (reported 100.4 [degF])". */
export function formatMeasuredAndReported(m: Measured): string {
  return m.converted ? `${formatMeasured(m)} (reported ${m.reported})` : formatMeasured(m);
}
