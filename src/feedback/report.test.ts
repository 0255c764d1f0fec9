import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { feedbackSummaryReport } from '../cli/commands/feedback-summary';
import { openStore } from '../store';
import { loadConfig } from '../config';

describe('il6-cds feedback-summary', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cli-'));
    const store = await openStore(loadConfig({ DATA_DIR: dir }));
    const card = (findingCode: string, issuedAtMs: number) => ({
      cardUuid: randomUUID(),
      suggestionUuids: [],
      serviceId: 'il6-inflammation',
      findingCode,
      ruleSetVersion: '2.0.0',
      profile: 'default',
      indicator: 'warning',
      hookInstance: randomUUID(),
      patientHash: 'f'.repeat(64),
      issuedAtMs,
    });
    const t = Date.parse('2026-02-10T12:00:00Z');
    const cards = [card('il6-persistent', t), card('il6-persistent', t), card('il6-trend', t), card('il6-trend', Date.parse('2026-03-10T12:00:00Z'))];
    await store.recordCards(cards);
    const base = { acceptedSuggestionIds: [], hasComment: false, outcomeAtMs: t, receivedAtMs: t, serviceId: 'il6-inflammation' };
    await store.recordFeedback([
      { ...base, cardUuid: cards[0]!.cardUuid, outcome: 'overridden', overrideReason: { system: 'urn:il6-cds:override-reason', code: 'not-relevant' } },
      { ...base, cardUuid: cards[1]!.cardUuid, outcome: 'accepted', acceptedSuggestionIds: ['s'] },
      { ...base, cardUuid: randomUUID(), outcome: 'accepted', acceptedSuggestionIds: ['s'] },
    ]);
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a readable table per finding and rule-set version, with override reasons (display from the rule file)', async () => {
    const text = await feedbackSummaryReport({}, { DATA_DIR: dir });
    expect(text).toContain('Feedback summary: all services, all cards issued');
    expect(text).toMatch(/service\s+finding\s+rules\s+profile\s+issued\s+accepted\s+overridden\s+no feedback\s+acceptance/);
    expect(text).toMatch(/il6-inflammation\s+il6-persistent\s+2\.0\.0\s+default\s+2\s+1\s+1\s+0\s+50\.0%/);
    expect(text).toContain('overridden because: Not clinically relevant (not-relevant) 1');
    expect(text).toMatch(/il6-trend\s+2\.0\.0\s+default\s+2\s+0\s+0\s+2\s+0\.0%/);
    expect(text).toMatch(/total\s+4\s+1\s+1\s+2\s+25\.0%/);
    expect(text).toContain('never issued (not attributable): 1');
  });

  it('--from/--to (dates, to inclusive), --service and --json', async () => {
    const json = JSON.parse(await feedbackSummaryReport({ from: '2026-02-01', to: '2026-02-28', service: 'il6-inflammation', json: true }, { DATA_DIR: dir })) as {
      serviceId: string;
      to: string;
      totals: { issued: number };
    };
    expect(json).toMatchObject({ serviceId: 'il6-inflammation', to: '2026-03-01T00:00:00.000Z', totals: { issued: 3 } });
    expect(await feedbackSummaryReport({ service: 'other' }, { DATA_DIR: dir })).toContain('No cards were issued in this range.');
    await expect(feedbackSummaryReport({ from: 'last week' }, { DATA_DIR: dir })).rejects.toThrow(/--from is not a date/);
  });
});
