/**
 * The shared store: PostgreSQL through a `pg` pool, selected by `DATABASE_URL`, for several replicas using one
 * database. Tables live in `DATABASE_SCHEMA` (created if missing). Every session runs with
 * `synchronous_commit=on`, so a committed feedback insert is durable whatever the server's default, and the
 * 200 is sent only after that commit. Migrations run at start-up in one transaction holding an advisory lock
 * (per schema), so replicas starting together apply each migration once.
 */
import { randomBytes } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { latestVersion, MIGRATIONS, MIGRATIONS_TABLE, pending, SALT_KEY } from './migrations';
import { toCardRecord, toStoredFeedback, type CardRow, type FeedbackRow } from './rows';
import { buildSummary, groupsSql, unknownSql, type GroupRow } from './summary';
import { purgeInBatches } from './purge';
import type { CardRecord, FeedbackRecord, ListFilter, PurgeResult, RecordFeedbackResult, Store, StoredFeedback, Summary, SummaryQuery } from './types';

export interface PostgresStoreOptions {
  url: string;
  /** Schema holding the tables; created if missing. */
  schema: string;
  /** Most connections in the pool. */
  poolMax?: number;
  onNewerSchema?: (version: number, known: number) => void;
  /** Refuse a schema without the service's tables instead of creating them. */
  mustExist?: boolean;
  /** Told about errors of idle pooled connections (the pool replaces them). */
  onPoolError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly description: string;
  private closed?: Promise<void>;

  private constructor(
    private readonly pool: Pool,
    private readonly salt: string,
    description: string,
  ) {
    this.description = description;
  }

  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    if (!SCHEMA_NAME.test(opts.schema)) throw new Error(`DATABASE_SCHEMA "${opts.schema}" is not a plain lower-case SQL identifier (a-z, 0-9, _).`);
    const pool = new Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 10,
      application_name: 'il6-cds',
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      options: `-c search_path=${opts.schema} -c synchronous_commit=on`,
    });
    pool.on('error', (err) => opts.onPoolError?.(err));
    try {
      const salt = await migrate(pool, opts.schema, opts.onNewerSchema, opts.mustExist);
      return new PostgresStore(pool, salt, `postgres ${describeUrl(opts.url)} schema ${opts.schema}`);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async patientHashSalt(): Promise<string> {
    return this.salt;
  }

  async recordCards(cards: CardRecord[]): Promise<void> {
    if (cards.length === 0) return;
    await this.pool.query(
      `INSERT INTO card_history (card_uuid, suggestion_uuids, service_id, finding_code, rule_set_version, profile, indicator,
                                 hook_instance, patient_hash, issued_at_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[])
       ON CONFLICT (card_uuid) DO NOTHING`,
      [
        cards.map((c) => c.cardUuid),
        cards.map((c) => JSON.stringify(c.suggestionUuids)),
        cards.map((c) => c.serviceId),
        cards.map((c) => c.findingCode),
        cards.map((c) => c.ruleSetVersion),
        cards.map((c) => c.profile),
        cards.map((c) => c.indicator),
        cards.map((c) => c.hookInstance),
        cards.map((c) => c.patientHash),
        cards.map((c) => c.issuedAtMs),
      ],
    );
  }

  async recordFeedback(items: FeedbackRecord[]): Promise<RecordFeedbackResult> {
    if (items.length === 0) return { stored: 0, unknownCards: 0 };
    // One statement, so one atomic, durable commit for the whole request.
    const res = await this.pool.query<{ card_known: boolean }>(
      `INSERT INTO feedback (service_id, card_uuid, outcome, accepted_suggestions, reason_system, reason_code, reason_display,
                             has_comment, outcome_at_ms, received_at_ms, card_known)
       SELECT t.service_id, t.card_uuid, t.outcome, t.accepted, t.reason_system, t.reason_code, t.reason_display,
              t.has_comment, t.outcome_at_ms, t.received_at_ms,
              t.pending OR EXISTS (SELECT 1 FROM card_history h WHERE h.card_uuid = t.card_uuid AND h.service_id = t.service_id)
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::bigint[], $10::bigint[], $11::boolean[])
         AS t(service_id, card_uuid, outcome, accepted, reason_system, reason_code, reason_display, has_comment, outcome_at_ms, received_at_ms, pending)
       RETURNING card_known`,
      [
        items.map((f) => f.serviceId),
        items.map((f) => f.cardUuid),
        items.map((f) => f.outcome),
        items.map((f) => JSON.stringify(f.acceptedSuggestionIds)),
        items.map((f) => f.overrideReason?.system ?? null),
        items.map((f) => f.overrideReason?.code ?? null),
        items.map((f) => f.overrideReason?.display ?? null),
        items.map((f) => f.hasComment),
        items.map((f) => f.outcomeAtMs),
        items.map((f) => f.receivedAtMs),
        items.map((f) => f.cardPendingLocally ?? false),
      ],
    );
    return { stored: res.rowCount ?? items.length, unknownCards: res.rows.filter((r) => !r.card_known).length };
  }

  async summary(query: SummaryQuery): Promise<Summary> {
    const groups = groupsSql(query);
    const unknown = unknownSql(query);
    // One snapshot for both queries, so the counts agree with each other.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rows = await client.query<GroupRow>(numbered(groups.sql), groups.params);
      const n = await client.query<{ n: string }>(numbered(unknown.sql), unknown.params);
      await client.query('COMMIT');
      return buildSummary(rows.rows, n.rows[0]!.n, query);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async listFeedback(filter: ListFilter = {}): Promise<StoredFeedback[]> {
    const { where, params } = serviceFilter(filter);
    const res = await this.pool.query<FeedbackRow>(`SELECT * FROM feedback ${where} ORDER BY id DESC LIMIT $${params.length + 1}`, [...params, filter.limit ?? 1000]);
    return res.rows.map(toStoredFeedback);
  }

  async listCards(filter: ListFilter = {}): Promise<CardRecord[]> {
    const { where, params } = serviceFilter(filter);
    const res = await this.pool.query<CardRow>(`SELECT * FROM card_history ${where} ORDER BY issued_at_ms DESC, card_uuid LIMIT $${params.length + 1}`, [...params, filter.limit ?? 1000]);
    return res.rows.map(toCardRecord);
  }

  purgeBefore(cutoffMs: number): Promise<PurgeResult> {
    return purgeInBatches(cutoffMs, async (sql, params) => (await this.pool.query(numbered(sql), params)).rowCount ?? 0);
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }
}

async function migrate(pool: Pool, schema: string, onNewerSchema?: (version: number, known: number) => void, mustExist = false): Promise<string> {
  const client: PoolClient = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      // Serialises replicas starting together (per schema); released at COMMIT/ROLLBACK.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`il6-cds:migrate:${schema}`]);
      if (mustExist && !(await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${schema}".schema_migrations`])).rows[0]!.t) {
        throw new Error(`schema "${schema}" holds no il6-cds tables: set DATABASE_SCHEMA (and DATABASE_URL) to what the service uses`);
      }
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`SET LOCAL search_path TO "${schema}"`);
      await client.query(MIGRATIONS_TABLE.postgres);
      const applied = (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version);
      const newest = Math.max(0, ...applied);
      if (newest > latestVersion()) onNewerSchema?.(newest, latestVersion());
      for (const m of pending(applied, MIGRATIONS)) {
        await client.query(m.sql.postgres);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
      await client.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [SALT_KEY, randomBytes(32).toString('base64url')]);
      const salt = (await client.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [SALT_KEY])).rows[0]!.value;
      await client.query('COMMIT');
      return salt;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    client.release();
  }
}

/** `?` placeholders → `$1, $2, …` (the shared SQL has no `?` inside literals). */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

function serviceFilter(filter: ListFilter): { where: string; params: (string | number)[] } {
  return filter.serviceId !== undefined ? { where: 'WHERE service_id = $1', params: [filter.serviceId] } : { where: '', params: [] };
}

/** host:port/database, without user or password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}
