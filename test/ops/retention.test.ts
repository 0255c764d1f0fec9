/**
 * RETENTION_DAYS in a running service: its own store is purged of card history and feedback older than the
 * setting (the purge itself is tested per store in test/feedback/store.test.ts, its timer in
 * src/store/retention.test.ts); 0, the default, starts no purge at all.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CardRecord } from '../../src/store/types';
import { startTestService } from '../support/service';

const DAY = 86_400_000;

function card(issuedAtMs: number): CardRecord {
  return { cardUuid: randomUUID(), suggestionUuids: [], serviceId: 'il6-inflammation', findingCode: 'il6-persistent', ruleSetVersion: '1', profile: 'default', indicator: 'warning', hookInstance: randomUUID(), patientHash: 'b'.repeat(64), issuedAtMs };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-retention-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('RETENTION_DAYS=30: the service purges its store of cards and feedback older than 30 days, and stops the purge on close', async () => {
  const server = await startTestService({ config: { retentionDays: 30, dataDir: dir } });
  try {
    const old = card(Date.now() - 31 * DAY);
    const recent = card(Date.now() - 29 * DAY);
    await server.store.recordCards([old, recent]);
    await server.store.recordFeedback([{ serviceId: old.serviceId, cardUuid: old.cardUuid, outcome: 'accepted', acceptedSuggestionIds: [], hasComment: false, outcomeAtMs: old.issuedAtMs, receivedAtMs: old.issuedAtMs }]);
    expect(await server.retention!.runNow()).toEqual({ cards: 1, feedback: 1 });
    expect((await server.store.listCards()).map((c) => c.cardUuid)).toEqual([recent.cardUuid]);
    expect(await server.store.listFeedback()).toEqual([]);
  } finally {
    await server.close();
  }
});

it('RETENTION_DAYS unset: nothing is ever purged', async () => {
  const server = await startTestService({ config: { dataDir: dir } });
  try {
    expect(server.retention).toBeUndefined();
    const old = card(Date.now() - 3650 * DAY);
    await server.store.recordCards([old]);
    expect((await server.store.listCards()).map((c) => c.cardUuid)).toEqual([old.cardUuid]);
  } finally {
    await server.close();
  }
});
