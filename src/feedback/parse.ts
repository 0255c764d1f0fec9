/**
 * The feedback body (CDS Hooks 2.0 §feedback) checked and turned into records, and the summary's date range.
 * Schema errors and the rules the schema cannot say become one 400 OperationOutcome listing every problem.
 *   - `feedback[]`: 1–1000 items; `card` (the card uuid), `outcome` accepted | overridden;
 *   - `acceptedSuggestions` required when accepted (cds-fb-2);
 *   - `overrideReason` holds `reason` (a Coding with code and system; `display` optional, as the sandbox sends
 *     none), `userComment`, or both (cds-fb-3);
 *   - `outcomeTimestamp` an RFC 3339 date-time with a zone; any offset is accepted and stored as UTC.
 * Fields that do not belong to the outcome (suggestions of an override, a reason for an acceptance) are
 * ignored, not refused. The comment's text is never stored: only that there was one.
 */
import type { FeedbackRequest } from '../cds-hooks/types';
import { assertValid } from '../cds-hooks/validation';
import { badRequest, invalidRequest, type IssueInput } from '../outcomes';
import type { FeedbackRecord } from '../store/types';

export function parseFeedback(body: unknown, serviceId: string, receivedAtMs: number): FeedbackRecord[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The feedback body must be a JSON object: {"feedback": [{"card", "outcome", "outcomeTimestamp", …}]}.');
  }
  assertValid('feedback', body);
  const request = body as FeedbackRequest;
  const issues: IssueInput[] = [];
  const records = request.feedback.map((item, i): FeedbackRecord => {
    const at = `feedback[${i}]`;
    const outcomeAtMs = Date.parse(item.outcomeTimestamp);
    if (!Number.isFinite(outcomeAtMs)) {
      issues.push({ code: 'value', expression: `${at}.outcomeTimestamp`, diagnostics: `${at}.outcomeTimestamp must be a real date and time (RFC 3339, e.g. 2021-12-11T10:05:31Z).` });
    }
    const override = item.overrideReason;
    if (override && !override.reason && override.userComment === undefined) {
      issues.push({ code: 'required', expression: `${at}.overrideReason`, diagnostics: `${at}.overrideReason needs a reason, a userComment, or both.` });
    }
    const record: FeedbackRecord = {
      serviceId,
      cardUuid: item.card,
      outcome: item.outcome,
      acceptedSuggestionIds: item.outcome === 'accepted' ? (item.acceptedSuggestions ?? []).map((s) => s.id) : [],
      hasComment: item.outcome === 'overridden' && typeof override?.userComment === 'string' && override.userComment.trim() !== '',
      outcomeAtMs,
      receivedAtMs,
    };
    const reason = item.outcome === 'overridden' ? override?.reason : undefined;
    if (reason?.system && reason.code) {
      record.overrideReason = { system: reason.system, code: reason.code };
      if (reason.display) record.overrideReason.display = reason.display;
    }
    return record;
  });
  if (issues.length > 0) throw invalidRequest(issues);
  return records;
}

export interface DateRange {
  fromMs?: number;
  toMs?: number;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * `from`/`to` of the summary: a date (`2026-01-31`, UTC; `to` includes that whole day) or an RFC 3339 date-time
 * with a zone (`from` inclusive, `to` exclusive). Either may be omitted (open range). Throws a 400.
 */
export function parseRange(from: unknown, to: unknown): DateRange {
  const range: DateRange = {};
  const fromMs = parseBound('from', from, false);
  const toMs = parseBound('to', to, true);
  if (fromMs !== undefined) range.fromMs = fromMs;
  if (toMs !== undefined) range.toMs = toMs;
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) {
    throw badRequest(`The range is empty: "from" (${new Date(fromMs).toISOString()}) must be before "to" (${new Date(toMs).toISOString()}).`, 'to');
  }
  return range;
}

function parseBound(name: 'from' | 'to', value: unknown, endOfDay: boolean): number | undefined {
  if (value === undefined || value === '') return undefined;
  const hint = `Give ${name} as a date (2026-01-31) or an RFC 3339 date-time with a zone (2026-01-31T08:00:00Z).`;
  if (typeof value !== 'string') throw badRequest(`"${name}" was given more than once. ${hint}`, name);
  if (DATE_ONLY.test(value)) {
    const ms = Date.parse(`${value}T00:00:00Z`);
    if (Number.isFinite(ms) && new Date(ms).toISOString().startsWith(value)) return endOfDay ? ms + DAY_MS : ms;
  } else if (DATE_TIME.test(value)) {
    const ms = Date.parse(value.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw badRequest(`"${name}" is not a date: ${JSON.stringify(value.slice(0, 40))}. ${hint}`, name);
}
