import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Card, CdsRequest } from '../cds-hooks/types';
import { loadConfig } from '../config';
import type { HookEvent } from '../hooks/router';
import { createLogger } from '../logger';
import { loadServices, type CdsService } from '../services/registry';
import { SqliteStore } from '../store/sqlite';
import type { CardRecord, Store } from '../store/types';
import { patientHasher } from './pseudonym';
import { CardHistoryRecorder } from './recorder';

const SALT = 'x'.repeat(43);
const PATIENT = 'il6cds-patient-123';
const service: CdsService = loadServices(loadConfig({}).servicesDir, { profile: 'default' }).services[0]!;

function makeCard(code = 'il6-persistent', withUuid = true): Card {
  return {
    ...(withUuid ? { uuid: randomUUID() } : {}),
    summary: 'IL-6 stays raised',
    indicator: 'warning',
    source: { label: 'IL-6', topic: { system: 'urn:test', code } },
    suggestions: [{ label: 'Repeat', uuid: randomUUID() }, { label: 'No uuid' }],
    selectionBehavior: 'any',
  };
}

function event(cards: Card[], patientId = PATIENT): HookEvent {
  const request: CdsRequest = { hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/1', patientId } };
  return { service, requestId: 'r1', result: { response: { cards }, request, timings: {}, keys: [], ruleErrors: [], resourceCount: 0 } } as HookEvent;
}

/** A real SQLite store behind a gate: writes can be held back or made to fail. */
class GatedStore {
  held: (() => void)[] = [];
  hold = false;
  failuresLeft = 0;
  writes = 0;
  constructor(readonly inner: Store) {}
  async recordCards(cards: CardRecord[]): Promise<void> {
    this.writes++;
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('database unavailable');
    }
    await this.inner.recordCards(cards);
  }
  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }
}

function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('warn', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('CardHistoryRecorder', () => {
  let dir: string;
  let store: SqliteStore;
  const recorders: CardHistoryRecorder[] = [];
  const recorder = (opts: Partial<ConstructorParameters<typeof CardHistoryRecorder>[0]> = {}) => {
    const r = new CardHistoryRecorder({ store, hashPatient: patientHasher(SALT), logger: logCapture().logger, flushIntervalMs: 10_000, ...opts });
    recorders.push(r);
    return r;
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'il6-history-'));
    store = await SqliteStore.open({ file: path.join(dir, 'h.sqlite') });
  });
  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records every card with a uuid: suggestion uuids, service, finding, rule-set version, profile, indicator, hookInstance, time, salted patient hash', async () => {
    const r = recorder({ now: () => 1_700_000_000_000 });
    const cards = [makeCard('il6-persistent'), makeCard('il6-trend'), makeCard('il6-hscrp', false)];
    const e = event(cards);
    r.listener(e);
    await r.flush();
    const rows = await store.listCards();
    expect(rows).toHaveLength(2);
    const row = rows.find((x) => x.cardUuid === cards[0]!.uuid)!;
    expect(row).toEqual({
      cardUuid: cards[0]!.uuid,
      suggestionUuids: [cards[0]!.suggestions![0]!.uuid],
      serviceId: service.id,
      findingCode: 'il6-persistent',
      ruleSetVersion: service.ruleSet.version,
      profile: service.profile,
      indicator: 'warning',
      hookInstance: e.result.request.hookInstance,
      patientHash: createHmac('sha256', SALT).update(PATIENT).digest('hex'),
      issuedAtMs: 1_700_000_000_000,
    });
    expect(JSON.stringify(rows)).not.toContain(PATIENT);
    expect(r.stats).toMatchObject({ enqueued: 2, written: 2, dropped: 0, queued: 0 });
  });

  it('writes behind: the listener returns before anything is written; the card is pending until the flush', async () => {
    const r = recorder();
    const c = makeCard();
    r.listener(event([c]));
    expect(await store.listCards()).toHaveLength(0);
    expect(r.isPending(c.uuid!)).toBe(true);
    expect(r.stats.queued).toBe(1);
    await r.flush();
    expect(r.isPending(c.uuid!)).toBe(false);
    expect(await store.listCards()).toHaveLength(1);
  });

  it('flushes in the background on its timer, in batches', async () => {
    const gated = new GatedStore(store);
    const r = recorder({ store: gated, flushIntervalMs: 20, batchSize: 100 });
    for (let i = 0; i < 25; i++) r.listener(event(Array.from({ length: 10 }, () => makeCard())));
    const deadline = Date.now() + 5000;
    while (r.stats.written < 250 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(r.stats.written).toBe(250);
    expect(gated.writes).toBe(3); // two full batches at once, the rest on the timer
    expect(await store.listCards({ limit: 1000 })).toHaveLength(250);
  });

  it('a full queue drops history with a counter and one warning, and never throws into the hook', async () => {
    const gated = new GatedStore(store);
    gated.hold = true;
    const { logger, lines } = logCapture();
    const r = recorder({ store: gated, logger, maxQueue: 3, batchSize: 2 });
    for (let i = 0; i < 4; i++) expect(() => r.listener(event([makeCard(), makeCard()]))).not.toThrow();
    // 8 cards arrive in one go, the queue holds 3: the rest are dropped, and the writes are held back
    await new Promise((res) => setImmediate(res));
    expect(r.stats.dropped).toBeGreaterThan(0);
    expect(r.stats.enqueued + r.stats.dropped).toBe(8);
    const warnings = lines.filter((l) => String(l.msg).includes('card history queue full'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, maxQueue: 3 });
    expect(JSON.stringify(lines)).not.toContain(PATIENT);
    gated.release();
    await r.close();
    expect(r.stats.written).toBe(r.stats.enqueued);
    expect(await store.listCards()).toHaveLength(r.stats.enqueued);
  });

  it('a failed write is retried; after maxAttempts the batch is abandoned and counted as lost', async () => {
    const gated = new GatedStore(store);
    const { logger, lines } = logCapture();
    const r = recorder({ store: gated, logger, maxAttempts: 3, warnEveryMs: 0 });
    gated.failuresLeft = 1;
    r.listener(event([makeCard()]));
    await r.flush(); // fails, kept for retry
    expect(r.stats).toMatchObject({ written: 0, writeFailures: 1, queued: 1 });
    await r.flush(); // succeeds
    expect(r.stats).toMatchObject({ written: 1, writeFailures: 1, lost: 0, queued: 0 });

    gated.failuresLeft = 10;
    r.listener(event([makeCard(), makeCard()]));
    await r.close();
    expect(r.stats).toMatchObject({ written: 1, writeFailures: 4, lost: 2, queued: 0 });
    expect(lines.some((l) => l.msg === 'card history batch could not be written; abandoned')).toBe(true);
  });

  it('close() writes what is queued; cards after close are ignored', async () => {
    const r = recorder();
    r.listener(event([makeCard(), makeCard(), makeCard()]));
    await r.close();
    expect(await store.listCards()).toHaveLength(3);
    r.listener(event([makeCard()]));
    await r.close();
    expect(await store.listCards()).toHaveLength(3);
  });

  it('the same patient always gets the same hash; another salt gives another', () => {
    const a = patientHasher(SALT);
    expect(a(PATIENT)).toBe(a(PATIENT));
    expect(a(PATIENT)).toMatch(/^[0-9a-f]{64}$/);
    expect(a(PATIENT)).not.toBe(a('il6cds-patient-124'));
    expect(patientHasher('y'.repeat(43))(PATIENT)).not.toBe(a(PATIENT));
    expect(() => patientHasher('short')).toThrow();
  });
});
