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
  const m = FHIR_DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', tz = 'Z'] = m;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${tz}`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  // Reject impossible calendar dates that Date.parse silently rolls over (2026-02-30).
  if (tz === 'Z' && new Date(ms).getUTCDate() !== Number(d)) return undefined;
  return ms;
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

/** YYYY-MM-DD (UTC). */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** YYYY-MM-DD HH:MM UTC, for events where the hour matters (fever, exercise, sleep). */
export function formatDateTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const DAY_MS = 86_400_000;
