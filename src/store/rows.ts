/** Rows of `feedback` and `card_history` as either driver returns them, and their conversion to records. */
import type { CardRecord, StoredFeedback } from './types';

/** A `feedback` row as either driver returns it (PostgreSQL: BIGINT as string, BOOLEAN as boolean). */
export interface FeedbackRow {
  id: number | string;
  service_id: string;
  card_uuid: string;
  outcome: 'accepted' | 'overridden';
  accepted_suggestions: string;
  reason_system: string | null;
  reason_code: string | null;
  reason_display: string | null;
  has_comment: number | boolean;
  outcome_at_ms: number | string;
  received_at_ms: number | string;
  card_known: number | boolean;
}

export interface CardRow {
  card_uuid: string;
  suggestion_uuids: string;
  service_id: string;
  finding_code: string;
  rule_set_version: string;
  profile: string;
  indicator: string;
  hook_instance: string;
  patient_hash: string;
  issued_at_ms: number | string;
}

export function toStoredFeedback(r: FeedbackRow): StoredFeedback {
  const out: StoredFeedback = {
    id: Number(r.id),
    serviceId: r.service_id,
    cardUuid: r.card_uuid,
    outcome: r.outcome,
    acceptedSuggestionIds: JSON.parse(r.accepted_suggestions) as string[],
    hasComment: Boolean(r.has_comment),
    outcomeAtMs: Number(r.outcome_at_ms),
    receivedAtMs: Number(r.received_at_ms),
    cardKnown: Boolean(r.card_known),
  };
  if (r.reason_code !== null && r.reason_system !== null) {
    out.overrideReason = { system: r.reason_system, code: r.reason_code };
    if (r.reason_display !== null) out.overrideReason.display = r.reason_display;
  }
  return out;
}

export function toCardRecord(r: CardRow): CardRecord {
  return {
    cardUuid: r.card_uuid,
    suggestionUuids: JSON.parse(r.suggestion_uuids) as string[],
    serviceId: r.service_id,
    findingCode: r.finding_code,
    ruleSetVersion: r.rule_set_version,
    profile: r.profile,
    indicator: r.indicator,
    hookInstance: r.hook_instance,
    patientHash: r.patient_hash,
    issuedAtMs: Number(r.issued_at_ms),
  };
}
