/**
 * The store contract, run against both real stores (SQLite file and PostgreSQL schema): migrations, card
 * history, durable feedback with unknown cards flagged, the summary's counting rules, ping and close.
 */
import { randomUUID } from 'node:crypto';
import { PURGE_BATCH } from '../../src/store/purge';
import type { CardRecord, FeedbackRecord, Store } from '../../src/store/types';
import { describeBackends, type StoreLocation } from './backends';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function card(over: Partial<CardRecord> = {}): CardRecord {
  return {
    cardUuid: randomUUID(),
    suggestionUuids: [randomUUID()],
    serviceId: 'svc-a',
    findingCode: 'il6-persistent',
    ruleSetVersion: '1.0.0',
    profile: 'default',
    indicator: 'warning',
    hookInstance: randomUUID(),
    patientHash: 'a'.repeat(64),
    issuedAtMs: T0,
    ...over,
  };
}

function fb(c: Pick<CardRecord, 'cardUuid' | 'serviceId'>, over: Partial<FeedbackRecord> = {}): FeedbackRecord {
  return {
    serviceId: c.serviceId,
    cardUuid: c.cardUuid,
    outcome: 'accepted',
    acceptedSuggestionIds: [randomUUID()],
    hasComment: false,
    outcomeAtMs: T0 + HOUR,
    receivedAtMs: T0 + HOUR,
    ...over,
  };
}

const REASON = { system: 'urn:il6-cds:override-reason', code: 'not-relevant' };

describeBackends('store', (backend) => {
  let loc: StoreLocation;
  let store: Store;

  beforeEach(async () => {
    loc = backend.create();
    store = await loc.open();
  });
  afterEach(async () => {
    await store.close();
    await loc.cleanup();
  });

  it('migrates on open; reopening applies nothing twice and keeps the patient-hash salt', async () => {
    const salt = await store.patientHashSalt();
    expect(salt.length).toBeGreaterThanOrEqual(32);
    await store.close();
    store = await loc.open();
    expect(await store.patientHashSalt()).toBe(salt);
  });

  it('two stores opening the same location together both succeed and share one salt (replicas starting at once)', async () => {
    const fresh = backend.create();
    try {
      const [a, b] = await Promise.all([fresh.open(), fresh.open()]);
      expect(await a.patientHashSalt()).toBe(await b.patientHashSalt());
      await a.recordCards([card()]);
      expect(await b.listCards()).toHaveLength(1);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await fresh.cleanup();
    }
  });

  it('records card history; a card recorded twice is kept once, as first written', async () => {
    const c = card({ suggestionUuids: ['s1', 's2'] });
    await store.recordCards([c, card({ serviceId: 'svc-b' })]);
    await store.recordCards([{ ...c, findingCode: 'changed' }]);
    const rows = await store.listCards({ serviceId: 'svc-a' });
    expect(rows).toEqual([c]);
    expect(await store.listCards()).toHaveLength(2);
  });

  it('stores feedback; feedback for a card this service never issued is stored and flagged, not dropped', async () => {
    const known = card();
    await store.recordCards([known]);
    const unknown = { cardUuid: randomUUID(), serviceId: 'svc-a' };
    const otherService = { cardUuid: known.cardUuid, serviceId: 'svc-b' };
    const result = await store.recordFeedback([
      fb(known),
      fb(unknown, { outcome: 'overridden', acceptedSuggestionIds: [], overrideReason: REASON, hasComment: true }),
      fb(otherService),
    ]);
    expect(result).toEqual({ stored: 3, unknownCards: 2 });
    const rows = await store.listFeedback();
    expect(rows).toHaveLength(3);
    const byCard = (uuid: string, svc: string) => rows.find((r) => r.cardUuid === uuid && r.serviceId === svc)!;
    expect(byCard(known.cardUuid, 'svc-a').cardKnown).toBe(true);
    expect(byCard(unknown.cardUuid, 'svc-a')).toMatchObject({ cardKnown: false, outcome: 'overridden', overrideReason: REASON, hasComment: true, acceptedSuggestionIds: [] });
    expect(byCard(known.cardUuid, 'svc-b').cardKnown).toBe(false);
    expect(await store.listFeedback({ serviceId: 'svc-b' })).toHaveLength(1);
  });

  it('retention: purgeBefore deletes cards issued and feedback received before the cutoff, in batches, and nothing newer', async () => {
    const cutoff = T0 + 30 * DAY;
    // More old cards than one purge batch, so the batch loop has to go round.
    const old = Array.from({ length: PURGE_BATCH + 7 }, (_, i) => card({ issuedAtMs: T0 + (i % 50) * HOUR }));
    const kept = [card({ issuedAtMs: cutoff }), card({ issuedAtMs: cutoff + DAY, serviceId: 'svc-b' })];
    await store.recordCards([...old.slice(0, 3000), kept[0]!]);
    await store.recordCards([...old.slice(3000), kept[1]!]);
    await store.recordFeedback([fb(old[0]!), fb(kept[0]!, { receivedAtMs: cutoff - 1 }), fb(kept[1]!, { receivedAtMs: cutoff + HOUR })]);
    expect(await store.purgeBefore(cutoff)).toEqual({ cards: old.length, feedback: 2 });
    expect((await store.listCards({ limit: 10_000 })).map((c) => c.cardUuid).sort()).toEqual(kept.map((c) => c.cardUuid).sort());
    expect((await store.listFeedback()).map((f) => f.cardUuid)).toEqual([kept[1]!.cardUuid]);
    expect(await store.purgeBefore(cutoff)).toEqual({ cards: 0, feedback: 0 });
    const summary = await store.summary({});
    expect(summary.totals).toMatchObject({ issued: 2, accepted: 1 });
  });

  it('a card still queued in this process counts as known (cardPendingLocally)', async () => {
    const result = await store.recordFeedback([fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }, { cardPendingLocally: true })]);
    expect(result.unknownCards).toBe(0);
    expect((await store.listFeedback())[0]!.cardKnown).toBe(true);
  });

  it('acknowledged feedback is there after closing and reopening', async () => {
    const items = Array.from({ length: 25 }, () => fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }));
    await store.recordFeedback(items);
    await store.close();
    store = await loc.open();
    const stored = new Set((await store.listFeedback()).map((r) => r.cardUuid));
    for (const i of items) expect(stored.has(i.cardUuid)).toBe(true);
  });

  it('many concurrent feedback requests are all stored (group commit on SQLite, pool on PostgreSQL)', async () => {
    const requests = Array.from({ length: 60 }, (_, i) => Array.from({ length: 1 + (i % 4) }, () => fb({ cardUuid: randomUUID(), serviceId: 'svc-a' })));
    const results = await Promise.all(requests.map((r) => store.recordFeedback(r)));
    expect(results.map((r) => r.stored)).toEqual(requests.map((r) => r.length));
    expect(await store.listFeedback({ limit: 10_000 })).toHaveLength(requests.flat().length);
  });

  it('summary: per finding, rule-set version and profile; latest outcome per card; reasons; acceptance rate; unknown cards', async () => {
    const p1 = card();
    const p2 = card();
    const p3 = card();
    const p4 = card();
    const p5 = card();
    const oldVersion = card({ ruleSetVersion: '0.9.0' });
    const longevity = card({ profile: 'longevity' });
    const trend = card({ findingCode: 'il6-trend', indicator: 'info' });
    const otherService = card({ serviceId: 'svc-b' });
    await store.recordCards([p1, p2, p3, p4, p5, oldVersion, longevity, trend, otherService]);
    await store.recordFeedback([
      fb(p1),
      // p2: overridden, then accepted later: counts as accepted once
      fb(p2, { outcome: 'overridden', acceptedSuggestionIds: [], overrideReason: REASON, outcomeAtMs: T0 + HOUR }),
      fb(p2, { outcomeAtMs: T0 + 2 * HOUR }),
      // p3: reported twice as overridden with the sandbox's reason (no display): one card
      fb(p3, { outcome: 'overridden', acceptedSuggestionIds: [], overrideReason: REASON }),
      fb(p3, { outcome: 'overridden', acceptedSuggestionIds: [], overrideReason: REASON }),
      // p4: overridden with a comment only
      fb(p4, { outcome: 'overridden', acceptedSuggestionIds: [], hasComment: true }),
      fb(oldVersion, { outcome: 'overridden', acceptedSuggestionIds: [], overrideReason: { ...REASON, code: 'already-known', display: 'Already known' } }),
      fb(trend),
      fb(otherService),
      fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }),
      fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }, { receivedAtMs: T0 + 40 * DAY }),
    ]);

    const s = await store.summary({ serviceId: 'svc-a' });
    expect(s.serviceId).toBe('svc-a');
    expect(s.findings.map((f) => [f.findingCode, f.ruleSetVersion, f.profile])).toEqual([
      ['il6-persistent', '0.9.0', 'default'],
      ['il6-persistent', '1.0.0', 'default'],
      ['il6-persistent', '1.0.0', 'longevity'],
      ['il6-trend', '1.0.0', 'default'],
    ]);
    const main = s.findings[1]!;
    expect(main).toMatchObject({ serviceId: 'svc-a', issued: 5, accepted: 2, overridden: 2, noFeedback: 1, acceptanceRate: 0.4 });
    expect(main.overriddenByReason).toEqual([
      { system: REASON.system, code: 'not-relevant', count: 1 },
      { system: null, code: null, count: 1 },
    ]);
    expect(s.findings[0]).toMatchObject({ issued: 1, accepted: 0, overridden: 1, acceptanceRate: 0, overriddenByReason: [{ system: REASON.system, code: 'already-known', display: 'Already known', count: 1 }] });
    expect(s.findings[2]).toMatchObject({ issued: 1, noFeedback: 1, acceptanceRate: 0 });
    expect(s.findings[3]).toMatchObject({ issued: 1, accepted: 1, acceptanceRate: 1 });
    expect(s.totals).toEqual({ issued: 8, accepted: 3, overridden: 3, noFeedback: 2, acceptanceRate: 0.375 });
    expect(s.unknownCardFeedback).toBe(2);

    const all = await store.summary({});
    expect(all.serviceId).toBeNull();
    expect(all.totals.issued).toBe(9);
    expect(all.findings.filter((f) => f.serviceId === 'svc-b')).toHaveLength(1);
  });

  it('summary: date range on issue time (from inclusive, to exclusive); unknown-card feedback by arrival', async () => {
    const before = card({ issuedAtMs: T0 - 1 });
    const atFrom = card({ issuedAtMs: T0 });
    const inside = card({ issuedAtMs: T0 + 5 * DAY });
    const atTo = card({ issuedAtMs: T0 + 10 * DAY });
    await store.recordCards([before, atFrom, inside, atTo]);
    await store.recordFeedback([
      fb(before),
      fb(inside, { outcomeAtMs: T0 + 20 * DAY, receivedAtMs: T0 + 20 * DAY }), // feedback after the range still counts for a card issued in it
      fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }, { receivedAtMs: T0 + DAY }),
      fb({ cardUuid: randomUUID(), serviceId: 'svc-a' }, { receivedAtMs: T0 + 11 * DAY }),
    ]);
    const s = await store.summary({ serviceId: 'svc-a', fromMs: T0, toMs: T0 + 10 * DAY });
    expect(s.from).toBe('2026-03-01T00:00:00.000Z');
    expect(s.to).toBe('2026-03-11T00:00:00.000Z');
    expect(s.totals).toMatchObject({ issued: 2, accepted: 1 });
    expect(s.unknownCardFeedback).toBe(1);
    expect((await store.summary({ serviceId: 'svc-a', fromMs: T0 + 50 * DAY })).findings).toEqual([]);
    expect((await store.summary({ serviceId: 'svc-a', fromMs: T0 + 50 * DAY })).totals.acceptanceRate).toBeNull();
  });

  it('ping answers while open; close is idempotent; a closed store refuses work', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.recordFeedback([fb({ cardUuid: randomUUID(), serviceId: 'svc-a' })])).rejects.toThrow();
  });
});
