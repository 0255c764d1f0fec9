/**
 * The embedded store: one SQLite file (better-sqlite3), no server. The default, so `npm start` works anywhere.
 *
 * Durability: `journal_mode=WAL` and, on the connection that writes feedback, `synchronous=FULL`: a commit
 * returns only after the WAL has been fsync'd, so feedback that got its 200 survives a process kill and a power
 * cut. Concurrent feedback requests are group-committed: every request that arrives within one turn of the event
 * loop joins one transaction (one fsync), and each request's promise settles when that transaction has
 * committed (a failing request is rolled back to its own savepoint and fails alone).
 *
 * Card history is written behind the hook response by a worker thread with its own connection
 * (`synchronous=NORMAL`: no fsync per batch, history is best-effort by design). better-sqlite3 is synchronous,
 * and a 500-card batch plus the WAL checkpoints it triggers can take tens of milliseconds; on the main thread
 * that would stall every hook call in flight. The worker starts with the first batch (none with CARD_HISTORY=off).
 * One process writes the file; several replicas need PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { latestVersion, MIGRATIONS, MIGRATIONS_TABLE, pending, SALT_KEY } from './migrations';
import { buildSummary, groupsSql, unknownSql, type GroupRow } from './summary';
import { toCardRecord, toStoredFeedback, type CardRow, type FeedbackRow } from './rows';
import { purgeInBatches } from './purge';
import type { CardRecord, FeedbackRecord, ListFilter, PurgeResult, RecordFeedbackResult, Store, StoredFeedback, Summary, SummaryQuery } from './types';

export interface SqliteStoreOptions {
  /** The database file; its folder is created if missing. */
  file: string;
  /** Told when the file's schema is newer than this build (a newer replica migrated it). */
  onNewerSchema?: (version: number, known: number) => void;
}

interface PendingFeedback {
  items: FeedbackRecord[];
  resolve: (r: RecordFeedbackResult) => void;
  reject: (err: unknown) => void;
}

const BUSY_TIMEOUT_MS = 5000;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly file: string;
  private writer: HistoryWriter | undefined;
  private readonly salt: string;
  private queue: PendingFeedback[] = [];
  private scheduled = false;
  private closed = false;
  private readonly insertFeedback: Database.Statement;
  private readonly feedbackBatch: (batch: PendingFeedback[]) => (RecordFeedbackResult | Error)[];

  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    return new SqliteStore(opts);
  }

  private constructor(opts: SqliteStoreOptions) {
    mkdirSync(path.dirname(opts.file), { recursive: true });
    this.description = `sqlite ${opts.file}`;
    this.file = opts.file;
    this.db = connect(opts.file, 'FULL');
    try {
      this.salt = migrate(this.db, opts.onNewerSchema);
    } catch (err) {
      this.db.close();
      throw err;
    }

    this.insertFeedback = this.db.prepare(`
      INSERT INTO feedback (service_id, card_uuid, outcome, accepted_suggestions, reason_system, reason_code, reason_display,
                            has_comment, outcome_at_ms, received_at_ms, card_known)
      VALUES (@serviceId, @cardUuid, @outcome, @accepted, @reasonSystem, @reasonCode, @reasonDisplay, @hasComment, @outcomeAtMs, @receivedAtMs,
              @pending OR EXISTS (SELECT 1 FROM card_history h WHERE h.card_uuid = @cardUuid AND h.service_id = @serviceId))
      RETURNING card_known`);
    const one = this.db.transaction((items: FeedbackRecord[]): RecordFeedbackResult => {
      let unknownCards = 0;
      for (const f of items) {
        const row = this.insertFeedback.get(feedbackParams(f)) as { card_known: number };
        if (!row.card_known) unknownCards++;
      }
      return { stored: items.length, unknownCards };
    });
    // The outer transaction commits once for the whole batch; each request runs in its own savepoint.
    this.feedbackBatch = this.db.transaction((batch: PendingFeedback[]) =>
      batch.map((p) => {
        try {
          return one(p.items);
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
  }

  async ping(): Promise<void> {
    this.assertOpen();
    this.db.prepare('SELECT 1').get();
  }

  async patientHashSalt(): Promise<string> {
    return this.salt;
  }

  async recordCards(cards: CardRecord[]): Promise<void> {
    this.assertOpen();
    if (cards.length === 0) return;
    if (!this.writer || this.writer.dead) this.writer = new HistoryWriter(this.file); // a crashed writer is replaced
    await this.writer.write(cards.map(cardParams));
  }

  recordFeedback(items: FeedbackRecord[]): Promise<RecordFeedbackResult> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (items.length === 0) return Promise.resolve({ stored: 0, unknownCards: 0 });
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.commitFeedback());
      }
    });
  }

  private commitFeedback(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let results: (RecordFeedbackResult | Error)[];
    try {
      results = this.feedbackBatch(batch);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    });
  }

  async summary(query: SummaryQuery): Promise<Summary> {
    this.assertOpen();
    const groups = groupsSql(query);
    const unknown = unknownSql(query);
    const read = this.db.transaction(() => ({
      rows: this.db.prepare(groups.sql).all(...groups.params) as GroupRow[],
      unknown: (this.db.prepare(unknown.sql).get(...unknown.params) as { n: number }).n,
    }));
    const { rows, unknown: n } = read();
    return buildSummary(rows, n, query);
  }

  async listFeedback(filter: ListFilter = {}): Promise<StoredFeedback[]> {
    this.assertOpen();
    const { where, params } = serviceFilter(filter);
    const rows = this.db.prepare(`SELECT * FROM feedback ${where} ORDER BY id DESC LIMIT ?`).all(...params, filter.limit ?? 1000) as FeedbackRow[];
    return rows.map(toStoredFeedback);
  }

  async listCards(filter: ListFilter = {}): Promise<CardRecord[]> {
    this.assertOpen();
    const { where, params } = serviceFilter(filter);
    const rows = this.db.prepare(`SELECT * FROM card_history ${where} ORDER BY issued_at_ms DESC, card_uuid LIMIT ?`).all(...params, filter.limit ?? 1000) as CardRow[];
    return rows.map(toCardRecord);
  }

  purgeBefore(cutoffMs: number): Promise<PurgeResult> {
    return purgeInBatches(cutoffMs, (sql, params) => {
      this.assertOpen();
      return this.db.prepare(sql).run(...params).changes;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitFeedback();
    this.closed = true;
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }
}

const INSERT_CARD = `
  INSERT INTO card_history (card_uuid, suggestion_uuids, service_id, finding_code, rule_set_version, profile, indicator,
                            hook_instance, patient_hash, issued_at_ms)
  VALUES (@cardUuid, @suggestions, @serviceId, @findingCode, @ruleSetVersion, @profile, @indicator, @hookInstance, @patientHash, @issuedAtMs)
  ON CONFLICT (card_uuid) DO NOTHING`;

/** The worker's whole program: its own connection, one transaction per batch, answers by request id. */
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const insert = db.prepare(workerData.insertSql);
const write = db.transaction((rows) => { for (const row of rows) insert.run(row); });
parentPort.on('message', (msg) => {
  if (msg.close) { db.close(); parentPort.postMessage({ id: msg.id, ok: true }); return; }
  try { write(msg.rows); parentPort.postMessage({ id: msg.id, ok: true }); }
  catch (err) { parentPort.postMessage({ id: msg.id, ok: false, error: String((err && err.message) || err) }); }
});
`;

/**
 * The card-history writer thread. Referenced (keeps the process alive) only while a batch is in flight, so an
 * idle store never holds the process open, and a shutdown that waits for the last batch is not cut short.
 */
class HistoryWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(file: string) {
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), file, insertSql: INSERT_CARD, busyTimeoutMs: BUSY_TIMEOUT_MS },
    });
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; ok: boolean; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.ok) p.resolve();
      else p.reject(new Error(msg.error));
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`card-history writer thread exited (${code})`)));
  }

  get dead(): boolean {
    return this.failed !== undefined;
  }

  write(rows: Record<string, string | number>[]): Promise<void> {
    return this.send({ rows });
  }

  async close(): Promise<void> {
    if (!this.failed) await this.send({ close: true }).catch(() => undefined);
    await this.worker.terminate();
  }

  private send(msg: { rows?: Record<string, string | number>[]; close?: boolean }): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }
}

function connect(file: string, synchronous: 'FULL' | 'NORMAL'): Database.Database {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`SQLite refused WAL mode for ${file} (journal_mode=${String(mode)})`);
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Applies pending migrations under a write lock (BEGIN IMMEDIATE) and returns the patient-hash salt. */
function migrate(db: Database.Database, onNewerSchema?: (version: number, known: number) => void): string {
  const run = db.transaction(() => {
    db.exec(MIGRATIONS_TABLE.sqlite);
    const applied = (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version);
    const newest = Math.max(0, ...applied);
    if (newest > latestVersion()) onNewerSchema?.(newest, latestVersion());
    for (const m of pending(applied, MIGRATIONS)) {
      db.exec(m.sql.sqlite);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(SALT_KEY, randomBytes(32).toString('base64url'));
    return (db.prepare('SELECT value FROM meta WHERE key = ?').get(SALT_KEY) as { value: string }).value;
  });
  return run.immediate();
}

function feedbackParams(f: FeedbackRecord): Record<string, string | number | null> {
  return {
    serviceId: f.serviceId,
    cardUuid: f.cardUuid,
    outcome: f.outcome,
    accepted: JSON.stringify(f.acceptedSuggestionIds),
    reasonSystem: f.overrideReason?.system ?? null,
    reasonCode: f.overrideReason?.code ?? null,
    reasonDisplay: f.overrideReason?.display ?? null,
    hasComment: f.hasComment ? 1 : 0,
    outcomeAtMs: f.outcomeAtMs,
    receivedAtMs: f.receivedAtMs,
    pending: f.cardPendingLocally ? 1 : 0,
  };
}

function serviceFilter(filter: ListFilter): { where: string; params: string[] } {
  return filter.serviceId !== undefined ? { where: 'WHERE service_id = ?', params: [filter.serviceId] } : { where: '', params: [] };
}

export function cardParams(c: CardRecord): Record<string, string | number> {
  return {
    cardUuid: c.cardUuid,
    suggestions: JSON.stringify(c.suggestionUuids),
    serviceId: c.serviceId,
    findingCode: c.findingCode,
    ruleSetVersion: c.ruleSetVersion,
    profile: c.profile,
    indicator: c.indicator,
    hookInstance: c.hookInstance,
    patientHash: c.patientHash,
    issuedAtMs: c.issuedAtMs,
  };
}
