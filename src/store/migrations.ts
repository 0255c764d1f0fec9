/**
 * Versioned schema migrations, one list for both dialects. Each store applies, at start-up and inside one
 * transaction that holds a lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL an advisory lock), every migration whose
 * version is not yet in `schema_migrations`, in order. Two replicas starting together therefore never apply a
 * migration twice. Migrations are append-only: never edit one that has shipped, add the next version.
 *
 * Times are epoch milliseconds (`*_ms`) in both dialects, so the summary SQL is shared and comparisons are exact.
 */

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  name: string;
  sql: Record<Dialect, string>;
}

export const MIGRATIONS_TABLE: Record<Dialect, string> = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)',
};

const tables = (t: { int: string; bool: string; id: string }) => `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE card_history (
  card_uuid        TEXT PRIMARY KEY,
  suggestion_uuids TEXT NOT NULL,        -- JSON array of the card's suggestion uuids
  service_id       TEXT NOT NULL,
  finding_code     TEXT NOT NULL,
  rule_set_version TEXT NOT NULL,
  profile          TEXT NOT NULL,
  indicator        TEXT NOT NULL,
  hook_instance    TEXT NOT NULL,
  patient_hash     TEXT NOT NULL,        -- HMAC-SHA256(salt, patient id); never the id itself
  issued_at_ms     ${t.int} NOT NULL
);
CREATE INDEX card_history_service_issued ON card_history (service_id, issued_at_ms);

CREATE TABLE feedback (
  id                   ${t.id},
  service_id           TEXT NOT NULL,
  card_uuid            TEXT NOT NULL,
  outcome              TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
  accepted_suggestions TEXT NOT NULL,    -- JSON array of suggestion uuids
  reason_system        TEXT,
  reason_code          TEXT,
  reason_display       TEXT,
  has_comment          ${t.bool} NOT NULL,  -- the comment itself is free text and is not stored
  outcome_at_ms        ${t.int} NOT NULL,
  received_at_ms       ${t.int} NOT NULL,
  card_known           ${t.bool} NOT NULL   -- false: feedback for a card this service never issued (flagged, kept)
);
CREATE INDEX feedback_card ON feedback (card_uuid);
CREATE INDEX feedback_service_received ON feedback (service_id, received_at_ms);
`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'card history, feedback, meta',
    sql: {
      sqlite: tables({ int: 'INTEGER', bool: 'INTEGER', id: 'INTEGER PRIMARY KEY AUTOINCREMENT' }),
      postgres: tables({ int: 'BIGINT', bool: 'BOOLEAN', id: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' }),
    },
  },
  {
    version: 2,
    name: 'indexes for the retention purge (by time, all services)',
    sql: {
      sqlite: 'CREATE INDEX card_history_issued ON card_history (issued_at_ms);\nCREATE INDEX feedback_received ON feedback (received_at_ms);',
      postgres: 'CREATE INDEX card_history_issued ON card_history (issued_at_ms);\nCREATE INDEX feedback_received ON feedback (received_at_ms);',
    },
  },
];

/** Key of the patient-hash salt in `meta`. */
export const SALT_KEY = 'patient_hash_salt';

/** Migrations not yet applied, in order; throws if the list itself is out of order (a programming error). */
export function pending(applied: Iterable<number>, migrations: Migration[] = MIGRATIONS): Migration[] {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) throw new Error(`migrations out of order at version ${migrations[i]!.version}`);
  }
  const done = new Set(applied);
  return migrations.filter((m) => !done.has(m.version));
}

/** The newest version this build knows. */
export function latestVersion(migrations: Migration[] = MIGRATIONS): number {
  return migrations.at(-1)?.version ?? 0;
}
