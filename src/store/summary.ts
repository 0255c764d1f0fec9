/**
 * The summary, shared by both stores: the SQL (written with `?` placeholders; the PostgreSQL store numbers
 * them) and the assembly of its rows into the report.
 *
 * Counting rules:
 *   - a card counts once, in the range of the time it was issued (`from` inclusive, `to` exclusive);
 *   - its outcome is its *latest* feedback (by `outcomeTimestamp`, then arrival), since a client may report
 *     the same card more than once; feedback is matched on card uuid and service;
 *   - acceptance rate = accepted / issued; `noFeedback` = issued − accepted − overridden;
 *   - feedback for cards this service never issued is counted apart (`unknownCardFeedback`), by arrival time.
 */
import type { ReasonCount, Summary, SummaryQuery, SummaryRow } from './types';

export interface SqlText {
  sql: string;
  params: (string | number)[];
}

function filters(query: SummaryQuery, column: { service: string; time: string }): SqlText {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.serviceId !== undefined) {
    where.push(`${column.service} = ?`);
    params.push(query.serviceId);
  }
  if (query.fromMs !== undefined) {
    where.push(`${column.time} >= ?`);
    params.push(query.fromMs);
  }
  if (query.toMs !== undefined) {
    where.push(`${column.time} < ?`);
    params.push(query.toMs);
  }
  return { sql: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

/** One row per (service, finding, rule-set version, profile, latest outcome, reason) with its card count. */
export function groupsSql(query: SummaryQuery): SqlText {
  const f = filters(query, { service: 'service_id', time: 'issued_at_ms' });
  return {
    sql: `
WITH cards AS (
  SELECT card_uuid, service_id, finding_code, rule_set_version, profile
  FROM card_history
  ${f.sql}
),
latest AS (
  SELECT fb.card_uuid, fb.outcome, fb.reason_system, fb.reason_code, fb.reason_display,
         ROW_NUMBER() OVER (PARTITION BY fb.card_uuid ORDER BY fb.outcome_at_ms DESC, fb.id DESC) AS rn
  FROM feedback fb
  JOIN cards c ON c.card_uuid = fb.card_uuid AND c.service_id = fb.service_id
)
SELECT c.service_id, c.finding_code, c.rule_set_version, c.profile,
       l.outcome, l.reason_system, l.reason_code, MAX(l.reason_display) AS reason_display, COUNT(*) AS n
FROM cards c
LEFT JOIN latest l ON l.card_uuid = c.card_uuid AND l.rn = 1
GROUP BY c.service_id, c.finding_code, c.rule_set_version, c.profile, l.outcome, l.reason_system, l.reason_code`,
    params: f.params,
  };
}

/** The number of feedback items (received in range) for which no card of that service is recorded. */
export function unknownSql(query: SummaryQuery): SqlText {
  const f = filters(query, { service: 'fb.service_id', time: 'fb.received_at_ms' });
  const notExists = 'NOT EXISTS (SELECT 1 FROM card_history h WHERE h.card_uuid = fb.card_uuid AND h.service_id = fb.service_id)';
  return {
    sql: `SELECT COUNT(*) AS n FROM feedback fb ${f.sql ? `${f.sql} AND ${notExists}` : `WHERE ${notExists}`}`,
    params: f.params,
  };
}

export interface GroupRow {
  service_id: string;
  finding_code: string;
  rule_set_version: string;
  profile: string;
  outcome: string | null;
  reason_system: string | null;
  reason_code: string | null;
  reason_display: string | null;
  /** PostgreSQL returns COUNT as a string. */
  n: number | string;
}

const rate = (accepted: number, issued: number): number | null => (issued > 0 ? Math.round((accepted / issued) * 10_000) / 10_000 : null);

export function buildSummary(rows: GroupRow[], unknownCardFeedback: number | string, query: SummaryQuery): Summary {
  const groups = new Map<string, SummaryRow>();
  for (const r of rows) {
    const key = JSON.stringify([r.service_id, r.finding_code, r.rule_set_version, r.profile]);
    let g = groups.get(key);
    if (!g) {
      g = {
        serviceId: r.service_id,
        findingCode: r.finding_code,
        ruleSetVersion: r.rule_set_version,
        profile: r.profile,
        issued: 0,
        accepted: 0,
        overridden: 0,
        noFeedback: 0,
        acceptanceRate: null,
        overriddenByReason: [],
      };
      groups.set(key, g);
    }
    const n = Number(r.n);
    g.issued += n;
    if (r.outcome === 'accepted') g.accepted += n;
    else if (r.outcome === 'overridden') {
      g.overridden += n;
      const reason: ReasonCount = { system: r.reason_system, code: r.reason_code, count: n };
      if (r.reason_display) reason.display = r.reason_display;
      g.overriddenByReason.push(reason);
    } else g.noFeedback += n;
  }
  const findings = [...groups.values()].sort(
    (a, b) => a.serviceId.localeCompare(b.serviceId) || a.findingCode.localeCompare(b.findingCode) || a.ruleSetVersion.localeCompare(b.ruleSetVersion) || a.profile.localeCompare(b.profile),
  );
  const totals = { issued: 0, accepted: 0, overridden: 0, noFeedback: 0, acceptanceRate: null as number | null };
  for (const g of findings) {
    g.acceptanceRate = rate(g.accepted, g.issued);
    g.overriddenByReason.sort((a, b) => b.count - a.count || String(a.code).localeCompare(String(b.code)));
    totals.issued += g.issued;
    totals.accepted += g.accepted;
    totals.overridden += g.overridden;
    totals.noFeedback += g.noFeedback;
  }
  totals.acceptanceRate = rate(totals.accepted, totals.issued);
  return {
    serviceId: query.serviceId ?? null,
    from: query.fromMs !== undefined ? new Date(query.fromMs).toISOString() : null,
    to: query.toMs !== undefined ? new Date(query.toMs).toISOString() : null,
    findings,
    totals,
    unknownCardFeedback: Number(unknownCardFeedback),
  };
}
