/**
 * The one storage interface of the service: card history, feedback and the summary built from both.
 * Two implementations pass the same behavioural suite (`test/feedback/store.test.ts`):
 *   - `SqliteStore` (`sqlite.ts`): embedded, the default, a file under `DATA_DIR`; no server needed.
 *   - `PostgresStore` (`postgres.ts`): selected by `DATABASE_URL`; several replicas share one database.
 * Nothing identifying is stored: patients only as a salted hash (`history/pseudonym.ts`), no names, no raw
 * ids, no FHIR data, no free-text comments.
 */

/** One card the service issued (written behind the hook response, in batches). */
export interface CardRecord {
  cardUuid: string;
  /** uuids of the card's suggestions, in card order (may be empty). */
  suggestionUuids: string[];
  serviceId: string;
  /** The finding the card reports (`card.source.topic.code`). */
  findingCode: string;
  ruleSetVersion: string;
  profile: string;
  indicator: string;
  hookInstance: string;
  /** HMAC-SHA256 of the patient id with the deployment's salt (hex). */
  patientHash: string;
  issuedAtMs: number;
}

export interface OverrideReasonRecord {
  system: string;
  code: string;
  display?: string;
}

/** One feedback item as stored (the body's `feedback[]` entry, normalised). */
export interface FeedbackRecord {
  serviceId: string;
  cardUuid: string;
  outcome: 'accepted' | 'overridden';
  /** `acceptedSuggestions[].id` (accepted only). */
  acceptedSuggestionIds: string[];
  /** `overrideReason.reason` (overridden only). */
  overrideReason?: OverrideReasonRecord;
  /** Whether the clinician wrote a `userComment`. The comment itself is free text and is not stored. */
  hasComment: boolean;
  outcomeAtMs: number;
  receivedAtMs: number;
  /**
   * The caller knows the card even if the store does not yet (its history row is still queued in this
   * process). The store ORs this with "a card_history row exists for this card and service".
   */
  cardPendingLocally?: boolean;
}

export interface StoredFeedback extends Omit<FeedbackRecord, 'cardPendingLocally'> {
  id: number;
  /** Whether the card was known (issued by this service) when the feedback arrived. */
  cardKnown: boolean;
}

export interface RecordFeedbackResult {
  stored: number;
  /** Items whose card uuid this service never issued (as far as known at receipt); stored and flagged. */
  unknownCards: number;
}

export interface SummaryQuery {
  /** One service, or every service. */
  serviceId?: string;
  /** Inclusive lower bound (epoch ms) on the time a card was issued (and feedback for unknown cards received). */
  fromMs?: number;
  /** Exclusive upper bound (epoch ms). */
  toMs?: number;
}

/** One group of the summary: cards of one finding, rule-set version and profile. */
export interface SummaryRow {
  serviceId: string;
  findingCode: string;
  ruleSetVersion: string;
  profile: string;
  issued: number;
  /** Cards whose latest feedback is `accepted`. */
  accepted: number;
  /** Cards whose latest feedback is `overridden`. */
  overridden: number;
  /** Cards with no feedback at all (ignored, or the client sends none). */
  noFeedback: number;
  /** accepted / issued; null when nothing was issued. */
  acceptanceRate: number | null;
  overriddenByReason: ReasonCount[];
}

export interface ReasonCount {
  /** null: overridden without a reason Coding (comment only). */
  system: string | null;
  code: string | null;
  display?: string;
  count: number;
}

export interface Summary {
  serviceId: string | null;
  from: string | null;
  to: string | null;
  findings: SummaryRow[];
  totals: { issued: number; accepted: number; overridden: number; noFeedback: number; acceptanceRate: number | null };
  /** Feedback items (received in the range) for cards this service never issued. */
  unknownCardFeedback: number;
}

export interface ListFilter {
  serviceId?: string;
  /** Most rows returned (newest first); default 1000. */
  limit?: number;
}

export interface PurgeResult {
  cards: number;
  feedback: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Human description without secrets (file path, or host/database/schema). */
  readonly description: string;
  /** Cheap reachability check for readiness probes; rejects when the store cannot answer. */
  ping(): Promise<void>;
  /** The deployment's patient-hash salt: created by the first migration, stable and shared by replicas. */
  patientHashSalt(): Promise<string>;
  /** Card history, in one transaction; a card already recorded is left as it is. */
  recordCards(cards: CardRecord[]): Promise<void>;
  /** Feedback, durably: resolves only after the transaction has committed (fsync'd). */
  recordFeedback(items: FeedbackRecord[]): Promise<RecordFeedbackResult>;
  summary(query: SummaryQuery): Promise<Summary>;
  listFeedback(filter?: ListFilter): Promise<StoredFeedback[]>;
  listCards(filter?: ListFilter): Promise<CardRecord[]>;
  /**
   * Retention: deletes card history issued before `cutoffMs` and feedback received before it, in batches
   * (`purge.ts`); answers how many rows of each it deleted.
   */
  purgeBefore(cutoffMs: number): Promise<PurgeResult>;
  /** Waits for pending writes, then closes connections. Idempotent. */
  close(): Promise<void>;
}
