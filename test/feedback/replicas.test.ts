/**
 * Done when: two service processes sharing PostgreSQL — feedback posted to one appears in the summary of the
 * other. They start together on a fresh schema (the advisory lock serialises the migrations), card history
 * written by one is seen by the other, and the CLI reads the same numbers.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Summary } from '../../src/store/types';
import { postgresBackend } from './backends';
import { accepted, getSummary, issueCards, postFeedback, REASON_SYSTEM, sandboxOverride, SERVICE } from './helpers';
import { ENTRY, runCli, startServiceProcess, type ServiceProcess } from './process';

jest.setTimeout(60_000);

const templates = (JSON.parse(readFileSync(path.resolve(__dirname, '../../cds-services', SERVICE, 'discovery.json'), 'utf8')) as { prefetch: Record<string, string> }).prefetch;

async function eventually<T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (!postgresBackend.available) console.warn(`SKIPPED "two replicas sharing PostgreSQL": ${postgresBackend.reason}`);
(postgresBackend.available ? describe : describe.skip)('two service processes sharing PostgreSQL', () => {
  it('feedback posted to one appears in the summary of the other (and in the CLI)', async () => {
    console.info(`replica test runs the service from ${ENTRY.how}`);
    const loc = postgresBackend.create();
    const running: ServiceProcess[] = [];
    try {
      // Both start at once on an empty schema: each runs the migrations under the advisory lock; one applies them.
      const [a, b] = await Promise.all([startServiceProcess(loc.env), startServiceProcess(loc.env)]);
      running.push(a!, b!);

      const cards = await issueCards(a!.url, templates);
      // A writes its history behind the response; B sees it once A has flushed (200 ms period).
      await eventually(() => getSummary(b!.url), (r) => r.summary.totals.issued === cards.length, "A's card history in B's summary");

      const overridden = cards[0]!;
      expect((await postFeedback(a!.url, sandboxOverride(overridden.uuid!))).body).toEqual({ stored: 1, unknownCards: 0 });
      const withSuggestion = cards.find((c) => c !== overridden && c.suggestions?.length);
      if (withSuggestion) expect((await postFeedback(b!.url, accepted(withSuggestion.uuid!, withSuggestion.suggestions![0]!.uuid!))).body).toEqual({ stored: 1, unknownCards: 0 });
      expect((await postFeedback(b!.url, sandboxOverride(randomUUID()))).body).toEqual({ stored: 1, unknownCards: 1 });

      const fromB = (await getSummary(b!.url)).summary;
      const row = fromB.findings.find((f) => f.findingCode === overridden.source.topic!.code)!;
      expect(row).toMatchObject({ overridden: 1, overriddenByReason: [{ system: REASON_SYSTEM, code: 'not-relevant', display: 'Not clinically relevant', count: 1 }] });
      expect(fromB.totals).toMatchObject({ issued: cards.length, overridden: 1, accepted: withSuggestion ? 1 : 0 });
      expect(fromB.unknownCardFeedback).toBe(1);

      const fromA = (await getSummary(a!.url)).summary;
      expect(fromA).toEqual(fromB);

      const cli = JSON.parse(await runCli(['feedback-summary', '--service', SERVICE, '--json'], loc.env)) as Summary;
      expect(cli).toEqual(fromB);
      const table = await runCli(['feedback-summary'], loc.env);
      expect(table).toContain('Not clinically relevant (not-relevant) 1');

      for (const p of running.splice(0)) expect((await p.stop()).code).toBe(0);
    } finally {
      for (const p of running) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
      await loc.cleanup();
    }
  });
});
