/**
 * Time for the rules: FHIR date/dateTime/instant strings to epoch milliseconds, rule-file durations
 * ("14 days", "72 hours", "12 months"), and calendar arithmetic. Months and years are calendar units
 * ("within 12 months" of 2026-03-31 starts on 2025-03-31), days and shorter are exact.
 */

const FHIR_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * Parses a FHIR date, dateTime or instant. Partial dates take their first instant ("2026-03" → 1 March);
 * a dateTime without offset is read as UTC. Returns undefined for anything unparseable.
 */
export function parseFhirTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  return parseCanonical(value) ?? parseFhirTimeGeneral(value);
}

/** parseFhirTime without the fast path for the common forms (the reference the fast path is tested against). */
export function parseFhirTimeGeneral(value: string): number | undefined {
  const m = FHIR_DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', tz = 'Z'] = m;
  // Impossible calendar dates (2026-02-30), which Date.parse would roll over into the next month, in any zone.
  const month = Number(mo);
  if (month < 1 || month > 12 || Number(d) < 1 || Number(d) > daysInMonth(Number(y), month)) return undefined;
  // A leap second (FHIR allows second 60) is read as the last millisecond before it: same day, same order.
  const leap = s === '60';
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${leap ? '59.999' : s + frac}${tz}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The common forms, read digit by digit: `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss[.s{1,3}](Z|±hh:mm)`, years 1000–9999,
 * a real calendar day, hours 0–23, seconds 0–59. These are exactly the inputs for which the general path's
 * `Date.parse` is plain calendar arithmetic, so the result is the same; anything else returns undefined and
 * takes the general path (which keeps its handling of odd forms). Several times faster than the regular
 * expression and `Date.parse`, and called for every time of every resource.
 */
function parseCanonical(s: string): number | undefined {
  const len = s.length;
  if (len < 10) return undefined;
  const y = digits(s, 0, 4);
  if (y < 1000 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  if (len === 10) return Date.UTC(y, mo - 1, d);
  if (len < 20 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const sec = digits(s, 17, 2);
  if (h > 23 || mi > 59 || sec > 59 || h < 0 || mi < 0 || sec < 0) return undefined;
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    let n = 0;
    for (i++; i < len && n < 4; i++, n++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms = ms * 10 + c;
    }
    if (n === 0 || n > 3) return undefined;
    ms *= n === 1 ? 100 : n === 2 ? 10 : 1;
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  const tz = s.charCodeAt(i);
  if (tz === 90) return i + 1 === len ? t : undefined; // Z
  if ((tz !== 43 && tz !== 45) || i + 6 !== len || s.charCodeAt(i + 3) !== 58) return undefined; // ±hh:mm
  const oh = digits(s, i + 1, 2);
  const om = digits(s, i + 4, 2);
  if (oh < 0 || oh > 14 || om < 0 || om > 59) return undefined;
  const offset = (oh * 60 + om) * 60_000;
  return tz === 43 ? t - offset : t + offset;
}

/** The number written by `n` ASCII digits at `at`, or -1. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function daysInMonth(y: number, mo: number): number {
  return mo === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

export type DurationUnit = 'minutes' | 'hours' | 'days' | 'weeks' | 'months' | 'years';
export interface Duration {
  amount: number;
  unit: DurationUnit;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(minutes?|min|hours?|h|days?|d|weeks?|months?|years?)$/;
const UNIT_NAMES: Record<string, DurationUnit> = {
  minute: 'minutes', minutes: 'minutes', min: 'minutes',
  hour: 'hours', hours: 'hours', h: 'hours',
  day: 'days', days: 'days', d: 'days',
  week: 'weeks', weeks: 'weeks',
  month: 'months', months: 'months',
  year: 'years', years: 'years',
};

export function parseDuration(text: string): Duration | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const unit = UNIT_NAMES[m[2]!]!;
  const amount = Number(m[1]);
  if ((unit === 'months' || unit === 'years') && !Number.isInteger(amount)) return undefined;
  return { amount, unit };
}

const FIXED_MS: Partial<Record<DurationUnit, number>> = {
  minutes: 60_000,
  hours: 3_600_000,
  days: 86_400_000,
  weeks: 7 * 86_400_000,
};

/** `ms` shifted by `sign × duration` (calendar-aware for months and years, clamped to month end). */
export function shift(ms: number, duration: Duration, sign: 1 | -1): number {
  const fixed = FIXED_MS[duration.unit];
  if (fixed !== undefined) return ms + sign * duration.amount * fixed;
  const months = sign * duration.amount * (duration.unit === 'years' ? 12 : 1);
  const d = new Date(ms);
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d.getTime();
}

export function formatDuration(d: Duration): string {
  const unit = d.amount === 1 ? d.unit.replace(/s$/, '') : d.unit;
  return `${d.amount} ${unit}`;
}

/**
 * Time elapsed between two records, as cards say it: whole hours under two days, else whole days, always rounded
 * down, so that a span short of a rule's threshold ("at least 14 days") is never shown as reaching it.
 */
export function formatSpan(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  if (hours < 1) return 'less than an hour';
  if (hours < 48) return hours === 1 ? '1 hour' : `${hours} hours`;
  return `${Math.floor(ms / DAY_MS)} days`;
}

/**
 * A FHIR date/dateTime for a card, as the record wrote it: the date in the zone it was recorded in, at the
 * precision it was recorded with ("2026-11" stays a month, not "2026-11-01"); with `withTime`, also the time of
 * day and its offset where the record has them ("2026-11-10 20:30 UTC-08:00"). `ms` is what `text` parsed to
 * (used only for a form the pattern does not take apart).
 */
export function formatRecorded(ms: number, text: string, withTime = false): string {
  const m = FHIR_DATE.exec(text.trim());
  if (!m) return withTime ? formatDateTime(ms) : formatDate(ms);
  const [, y, mo, d, h, mi, , , tz] = m;
  const date = mo === undefined ? y! : d === undefined ? `${y}-${mo}` : `${y}-${mo}-${d}`;
  if (!withTime || h === undefined) return date;
  const offset = tz === undefined || tz === 'Z' || tz.slice(1) === '00:00' ? '' : tz;
  return `${date} ${h}:${mi} UTC${offset}`;
}

/** YYYY-MM-DD (UTC). */
export function formatDate(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  // Four-digit years from the fields (4× faster than toISOString); anything else (and NaN's RangeError) from toISOString.
  if (!(y >= 1000 && y <= 9999)) return d.toISOString().slice(0, 10);
  return `${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** YYYY-MM-DD HH:MM UTC, for events where the hour matters (fever, exercise, sleep). */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!(y >= 1000 && y <= 9999)) return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

export const DAY_MS = 86_400_000;
