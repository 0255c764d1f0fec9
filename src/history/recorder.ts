/**
 * Card history, written behind the hook response. `listener` is a HookListener: after each successful hook
 * call it turns the response's cards into rows (no FHIR data, the patient only as a salted hash) and puts them
 * on a bounded in-memory queue; a background flush writes the queue in batches. The hook never waits for the
 * store and never fails because of it:
 *   - queue full → the card is not recorded: `stats.dropped` counts it and a warning is logged (at most one
 *     line per `warnEveryMs`, with the number dropped since the last one);
 *   - a failed batch is retried on the next flush (up to `maxAttempts`), then abandoned (`stats.lost`).
 * `close()` (server shutdown) writes everything still queued.
 *
 * `stats` is a live object for a metrics endpoint: enqueued, written, dropped, writeFailures, lost, queued.
 */
import type { Card } from '../cds-hooks/types';
import type { HookEvent, HookListener } from '../hooks/router';
import type { Logger } from '../logger';
import type { CardRecord, Store } from '../store/types';
import type { PatientHasher } from './pseudonym';

export interface CardHistoryOptions {
  store: Pick<Store, 'recordCards'>;
  hashPatient: PatientHasher;
  logger: Logger;
  /** Most cards waiting to be written (default 10 000). */
  maxQueue?: number;
  /** Most cards per write (default 500). */
  batchSize?: number;
  /** Background flush period (default 200 ms). */
  flushIntervalMs?: number;
  /** Attempts per batch before it is abandoned (default 3). */
  maxAttempts?: number;
  warnEveryMs?: number;
  now?: () => number;
}

export interface HistoryStats {
  /** Cards put on the queue. */
  enqueued: number;
  /** Cards written to the store. */
  written: number;
  /** Cards not recorded because the queue was full. */
  dropped: number;
  /** Failed batch writes (each is retried). */
  writeFailures: number;
  /** Cards abandoned after `maxAttempts` failed writes. */
  lost: number;
  /** Cards waiting (queued or being written) right now. */
  readonly queued: number;
}

interface Batch {
  rows: CardRecord[];
  attempts: number;
}

export class CardHistoryRecorder {
  readonly stats: HistoryStats;
  /** Register with the app (`AppDeps.hookListeners`). */
  readonly listener: HookListener = (event) => this.record(event);

  private queue: CardRecord[] = [];
  private retry: Batch | undefined;
  /** uuids queued or being written, so feedback can tell a card issued a moment ago from an unknown one. */
  private readonly pendingUuids = new Set<string>();
  private inFlight: Promise<void> | undefined;
  private soon: NodeJS.Immediate | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private droppedSinceWarn = 0;
  private lastWarnAt = -Infinity;
  private lastErrorAt = -Infinity;

  private readonly maxQueue: number;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly warnEveryMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: CardHistoryOptions) {
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.batchSize = opts.batchSize ?? 500;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.warnEveryMs = opts.warnEveryMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    const pendingUuids = this.pendingUuids;
    this.stats = {
      enqueued: 0,
      written: 0,
      dropped: 0,
      writeFailures: 0,
      lost: 0,
      get queued() {
        return pendingUuids.size;
      },
    };
    this.timer = setInterval(() => this.kick(), opts.flushIntervalMs ?? 200);
    this.timer.unref();
  }

  /** Queues the cards of one hook call. Never throws, never waits. */
  record(event: HookEvent): void {
    const cards = event.result.response.cards;
    if (cards.length === 0 || this.closed) return;
    const patientHash = this.opts.hashPatient(event.result.request.context.patientId);
    const issuedAtMs = this.now();
    for (const card of cards) {
      if (!card.uuid) continue; // a card without a uuid can receive no feedback
      if (this.queue.length >= this.maxQueue) {
        this.stats.dropped++;
        this.droppedSinceWarn++;
        continue;
      }
      this.queue.push(toRecord(card, card.uuid, event, patientHash, issuedAtMs));
      this.pendingUuids.add(card.uuid);
      this.stats.enqueued++;
    }
    if (this.droppedSinceWarn > 0) this.warnDropped();
    if (this.queue.length >= this.batchSize) this.kickSoon();
  }

  /** Whether this card was issued here and is still waiting to be written. */
  isPending(cardUuid: string): boolean {
    return this.pendingUuids.has(cardUuid);
  }

  /** Writes everything queued now; resolves when done (a failing batch stays queued for a retry). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.retry || this.inFlight) {
      await this.writeOnce();
      if (this.retry) return; // the store is failing: the timer retries
    }
  }

  /** Stops the timer and writes what is queued (retrying failed batches up to `maxAttempts`). Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      clearInterval(this.timer);
      if (this.soon) clearImmediate(this.soon);
    }
    while (this.queue.length > 0 || this.retry || this.inFlight) {
      await this.writeOnce();
      if (this.retry) await new Promise((r) => setTimeout(r, 100)); // a short pause before retrying a failed batch
    }
  }

  /** A full batch is waiting: write it on the next turn of the event loop rather than at the next tick of the timer. */
  private kickSoon(): void {
    if (this.soon || this.closed) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      this.kick();
    });
  }

  private kick(): void {
    if (!this.inFlight && (this.queue.length > 0 || this.retry)) void this.writeOnce();
  }

  /** One batch: the failed one first, else the head of the queue. Only one write runs at a time. */
  private writeOnce(): Promise<void> {
    this.inFlight ??= this.write().finally(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.batchSize && !this.retry) this.kickSoon();
    });
    return this.inFlight;
  }

  private async write(): Promise<void> {
    const batch = this.retry ?? { rows: this.queue.splice(0, this.batchSize), attempts: 0 };
    this.retry = undefined;
    if (batch.rows.length === 0) return;
    try {
      await this.opts.store.recordCards(batch.rows);
      this.stats.written += batch.rows.length;
      this.forget(batch.rows);
    } catch (err) {
      this.stats.writeFailures++;
      batch.attempts++;
      const abandon = batch.attempts >= this.maxAttempts;
      if (abandon) {
        this.stats.lost += batch.rows.length;
        this.forget(batch.rows);
      } else this.retry = batch;
      const t = this.now();
      if (abandon || t - this.lastErrorAt >= this.warnEveryMs) {
        this.lastErrorAt = t;
        this.opts.logger.error(
          { err: { message: err instanceof Error ? err.message : String(err) }, cards: batch.rows.length, attempts: batch.attempts, abandoned: abandon },
          abandon ? 'card history batch could not be written; abandoned' : 'card history batch could not be written; will retry',
        );
      }
    }
  }

  private forget(rows: CardRecord[]): void {
    for (const r of rows) this.pendingUuids.delete(r.cardUuid);
  }

  private warnDropped(): void {
    const t = this.now();
    if (t - this.lastWarnAt < this.warnEveryMs) return;
    this.lastWarnAt = t;
    this.opts.logger.warn(
      { dropped: this.droppedSinceWarn, droppedTotal: this.stats.dropped, maxQueue: this.maxQueue },
      'card history queue full: cards not recorded (the hook was answered normally)',
    );
    this.droppedSinceWarn = 0;
  }
}

function toRecord(card: Card, cardUuid: string, event: HookEvent, patientHash: string, issuedAtMs: number): CardRecord {
  return {
    cardUuid,
    suggestionUuids: (card.suggestions ?? []).flatMap((s) => (s.uuid ? [s.uuid] : [])),
    serviceId: event.service.id,
    findingCode: card.source.topic?.code ?? 'unknown',
    ruleSetVersion: event.service.ruleSet.version,
    profile: event.service.profile,
    indicator: card.indicator,
    hookInstance: event.result.request.hookInstance,
    patientHash,
    issuedAtMs,
  };
}
