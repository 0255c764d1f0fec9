/**
 * Feedback and its summary through the real service (real Express app, sockets and store), against both stores:
 * checklist items 57–59, validation, 404/405, unknown cards, card history written behind the hook, and the
 * sandbox-shaped client of the issue's first "done when".
 */
import { randomUUID } from 'node:crypto';
import type { RunningServer } from '../../src/server';
import type { Store } from '../../src/store/types';
import { assertOperationOutcome } from '../support/cds-client';
import { startTestService } from '../support/service';
import { describeBackends, type StoreLocation } from './backends';
import { accepted, getSummary, issueCards, PATIENT, postFeedback, REASON_SYSTEM, sandboxOverride, SERVICE } from './helpers';

describeBackends('feedback over HTTP', (backend) => {
  let loc: StoreLocation;
  let server: RunningServer;
  const templates = () => server.registry.get(SERVICE)!.definition.prefetch!;

  beforeEach(async () => {
    loc = backend.create();
    server = await startTestService({ config: { ...loc.config, auth: 'disabled' } });
  });
  afterEach(async () => {
    await server.close();
    await loc.cleanup();
  });

  const expectOutcome = (reply: { status: number; body: unknown }, status: number, pattern?: RegExp) => {
    expect(reply.status).toBe(status);
    assertOperationOutcome(reply.body, status);
    if (pattern) expect((reply.body as { issue: { diagnostics: string }[] }).issue.map((i) => i.diagnostics).join(' | ')).toMatch(pattern);
  };

  it('item 57: accepted feedback with acceptedSuggestions and outcomeTimestamp → 200, stored', async () => {
    const cards = await issueCards(server.url, templates());
    const card = cards.find((c) => c.suggestions?.length)!;
    const reply = await postFeedback(server.url, accepted(card.uuid!, card.suggestions![0]!.uuid!));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ stored: 1, unknownCards: 0 });
    const [row] = await server.store.listFeedback();
    expect(row).toMatchObject({ serviceId: SERVICE, cardUuid: card.uuid, outcome: 'accepted', acceptedSuggestionIds: [card.suggestions![0]!.uuid], cardKnown: true });
  });

  it('item 58: overridden with overrideReason.reason {code, system} and no display (as the sandbox sends) → 200', async () => {
    const [card] = await issueCards(server.url, templates());
    const reply = await postFeedback(server.url, sandboxOverride(card!.uuid!));
    expect(reply.status).toBe(200);
    const [row] = await server.store.listFeedback();
    expect(row).toMatchObject({ outcome: 'overridden', overrideReason: { system: REASON_SYSTEM, code: 'not-relevant' } });
    expect(row!.overrideReason!.display).toBeUndefined();
  });

  it('item 59: accepted without acceptedSuggestions → 400; an unknown outcome → 400; nothing stored', async () => {
    const card = randomUUID();
    const now = new Date().toISOString();
    expectOutcome(await postFeedback(server.url, { feedback: [{ card, outcome: 'accepted', outcomeTimestamp: now }] }), 400, /feedback\[0\]\.acceptedSuggestions is required/);
    expectOutcome(await postFeedback(server.url, { feedback: [{ card, outcome: 'ignored', outcomeTimestamp: now }] }), 400, /feedback\[0\]\.outcome must be one of "accepted", "overridden"/);
    expect(await server.store.listFeedback()).toEqual([]);
  });

  it('a malformed body is refused with an OperationOutcome naming every problem; a bad item refuses the whole body', async () => {
    const ok = { card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-01-01T10:00:00Z' };
    const cases: [unknown, RegExp][] = [
      [[ok], /must be a JSON object/],
      [{}, /feedback is required/],
      [{ feedback: [] }, /feedback/],
      [{ feedback: [{ ...ok, card: undefined }] }, /feedback\[0\]\.card is required/],
      [{ feedback: [{ ...ok, outcomeTimestamp: '2026-01-01 10:00' }] }, /outcomeTimestamp must be a valid date-time/],
      [{ feedback: [{ ...ok, outcomeTimestamp: '2026-01-01T10:00:00' }] }, /outcomeTimestamp must be a valid date-time/],
      [{ feedback: [{ ...ok, outcomeTimestamp: '2016-12-31T23:59:60Z' }] }, /outcomeTimestamp must be a real date and time/],
      [{ feedback: [{ ...ok, overrideReason: { reason: { code: 'x' } } }] }, /overrideReason\.reason\.system is required/],
      [{ feedback: [{ ...ok, overrideReason: { note: 'x' } }] }, /overrideReason needs a reason, a userComment, or both/],
      [{ feedback: [ok, { ...ok, outcome: 'accepted', acceptedSuggestions: [] }] }, /feedback\[1\]\.acceptedSuggestions/],
    ];
    for (const [body, pattern] of cases) expectOutcome(await postFeedback(server.url, body), 400, pattern);
    expectOutcome(await postFeedback(server.url, '{"feedback": ['), 400, /not valid JSON/);
    expect(await server.store.listFeedback()).toEqual([]);
  });

  it('accepts RFC 3339 offsets (stored as UTC), a comment-only override (the comment itself is not stored), and several items at once', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const reply = await postFeedback(server.url, {
      feedback: [
        { card: a, outcome: 'overridden', overrideReason: { userComment: 'Patient MRN-4711 Smith already on it' }, outcomeTimestamp: '2026-01-01T12:00:00.5+02:00' },
        { card: b, outcome: 'accepted', acceptedSuggestions: [{ id: randomUUID() }], outcomeTimestamp: '2026-01-01T10:00:00Z', extension: { x: 1 } },
      ],
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ stored: 2, unknownCards: 2 });
    const rows = await server.store.listFeedback();
    const ra = rows.find((r) => r.cardUuid === a)!;
    expect(ra).toMatchObject({ hasComment: true, outcomeAtMs: Date.parse('2026-01-01T10:00:00.500Z') });
    expect(ra.overrideReason).toBeUndefined();
    expect(JSON.stringify(rows)).not.toMatch(/Smith|MRN-4711/);
  });

  it('feedback for a card uuid the service never issued is stored and flagged, and counted in the summary', async () => {
    const reply = await postFeedback(server.url, sandboxOverride(randomUUID()));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ stored: 1, unknownCards: 1 });
    expect((await server.store.listFeedback())[0]!.cardKnown).toBe(false);
    const { summary } = await getSummary(server.url);
    expect(summary.unknownCardFeedback).toBe(1);
    expect(summary.totals.overridden).toBe(0);
  });

  it('an unknown service → 404 (feedback and summary); other methods → 405', async () => {
    expectOutcome(await postFeedback(server.url, sandboxOverride(randomUUID()), 'no-such-service'), 404, /no-such-service/);
    expectOutcome(await getSummary(server.url, '', 'no-such-service'), 404, /no-such-service/);
    const get = await fetch(`${server.url}/cds-services/${SERVICE}/feedback`);
    expectOutcome({ status: get.status, body: await get.json() }, 405, /GET is not supported/);
    const post = await fetch(`${server.url}/cds-services/${SERVICE}/feedback/summary`, { method: 'POST', body: '{}' });
    expectOutcome({ status: post.status, body: await post.json() }, 405);
  });

  it('records every issued card behind the hook response (no patient id stored), and close() writes what is still queued', async () => {
    const cards = await issueCards(server.url, templates());
    await server.close(); // flushes the history queue and closes the store
    const store: Store = await loc.open();
    try {
      const rows = await store.listCards({ serviceId: SERVICE });
      expect(rows.map((r) => r.cardUuid).sort()).toEqual(cards.map((c) => c.uuid).sort());
      const service = server.registry.get(SERVICE)!;
      for (const row of rows) {
        const c = cards.find((x) => x.uuid === row.cardUuid)!;
        expect(row).toMatchObject({
          findingCode: c.source.topic!.code,
          ruleSetVersion: service.ruleSet.version,
          profile: service.profile,
          indicator: c.indicator,
          suggestionUuids: (c.suggestions ?? []).map((s) => s.uuid),
        });
        expect(row.patientHash).toMatch(/^[0-9a-f]{64}$/);
      }
      expect(new Set(rows.map((r) => r.hookInstance)).size).toBe(1);
      expect(JSON.stringify(rows)).not.toContain(PATIENT);
    } finally {
      await store.close();
    }
    server = await startTestService({ config: { ...loc.config, auth: 'disabled' } }); // for afterEach
  });

  it('done when: a sandbox-shaped client\'s override (reason with only code and system) appears in the summary, per finding and rule-set version', async () => {
    const cards = await issueCards(server.url, templates());
    const [overridden, acceptedCard] = [cards[0]!, cards.find((c) => c !== cards[0] && c.suggestions?.length)];
    expect((await postFeedback(server.url, sandboxOverride(overridden.uuid!))).status).toBe(200);
    if (acceptedCard) expect((await postFeedback(server.url, accepted(acceptedCard.uuid!, acceptedCard.suggestions![0]!.uuid!))).status).toBe(200);

    await server.history!.flush(); // history is written behind the response (within CARD_HISTORY flush period, 200 ms)
    const reply = await getSummary(server.url);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    const { summary } = reply;
    const version = server.registry.get(SERVICE)!.ruleSet.version;
    expect(summary.serviceId).toBe(SERVICE);
    const row = summary.findings.find((f) => f.findingCode === overridden.source.topic!.code)!;
    expect(row).toMatchObject({ ruleSetVersion: version, profile: 'default', issued: 1, overridden: 1, accepted: 0, acceptanceRate: 0 });
    // the display the sandbox left out is filled in from the card's override reasons
    expect(row.overriddenByReason).toEqual([{ system: REASON_SYSTEM, code: 'not-relevant', display: 'Not clinically relevant', count: 1 }]);
    expect(summary.totals).toMatchObject({ issued: cards.length, overridden: 1, accepted: acceptedCard ? 1 : 0 });
    expect(summary.unknownCardFeedback).toBe(0);
  });

  it('summary date range: dates (to includes that day) or RFC 3339 date-times; bad ranges → 400', async () => {
    await issueCards(server.url, templates());
    await server.history!.flush();
    const today = new Date().toISOString().slice(0, 10);
    expect((await getSummary(server.url, `?from=${today}&to=${today}`)).summary.totals.issued).toBeGreaterThan(0);
    const { summary } = await getSummary(server.url, `?to=${today}`);
    expect(summary.to).toBe(new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString());
    expect((await getSummary(server.url, '?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00%2B01:00')).summary.totals.issued).toBe(0);
    expectOutcome(await getSummary(server.url, '?from=yesterday'), 400, /"from" is not a date/);
    expectOutcome(await getSummary(server.url, '?from=2026-02-30'), 400, /"from" is not a date/);
    expectOutcome(await getSummary(server.url, '?from=2026-02-02&to=2026-02-01'), 400, /range is empty/);
    expectOutcome(await getSummary(server.url, '?from=2026-01-01&from=2026-01-02'), 400, /more than once/);
  });
});

describe('feedback over HTTP with CARD_HISTORY=off', () => {
  it('stores no history; feedback is still stored (flagged: the card cannot be attributed)', async () => {
    const { sqliteBackend } = await import('./backends');
    const loc = sqliteBackend.create();
    const server = await startTestService({ config: { ...loc.config, cardHistory: 'off', auth: 'disabled' } });
    try {
      expect(server.history).toBeUndefined();
      const [card] = await issueCards(server.url, server.registry.get(SERVICE)!.definition.prefetch!);
      const reply = await postFeedback(server.url, sandboxOverride(card!.uuid!));
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ stored: 1, unknownCards: 1 });
      expect(await server.store.listCards()).toEqual([]);
    } finally {
      await server.close();
      await loc.cleanup();
    }
  });
});
