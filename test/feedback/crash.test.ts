/**
 * Done when: the service is killed with SIGKILL while feedback is being posted under load; after a restart on
 * the same store, every feedback item that got a 200 is in the store. Both stores. The service runs as a real
 * child process (see process.ts); hook calls run alongside, so card history is being written when it dies.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeBackends } from './backends';
import { issueCards, REASON_SYSTEM, SERVICE } from './helpers';
import { ENTRY, runCli, startServiceProcess, type ServiceProcess } from './process';

jest.setTimeout(60_000);
console.info(`crash test runs the service from ${ENTRY.how}`);

const templates = (JSON.parse(readFileSync(path.resolve(__dirname, '../../cds-services', SERVICE, 'discovery.json'), 'utf8')) as { prefetch: Record<string, string> }).prefetch;
const CLIENTS = 16;
const ACKED_BEFORE_KILL = 400;

function feedbackBody(cards: string[], i: number): string {
  return JSON.stringify({
    feedback: cards.map((card) =>
      i % 2 === 0
        ? { card, outcome: 'overridden', overrideReason: { reason: { code: 'not-relevant', system: REASON_SYSTEM } }, outcomeTimestamp: new Date().toISOString() }
        : { card, outcome: 'accepted', acceptedSuggestions: [{ id: randomUUID() }], outcomeTimestamp: new Date().toISOString() },
    ),
  });
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describeBackends('crash: SIGKILL under feedback load', (backend) => {
  it('after a restart on the same store, every feedback item that got a 200 is there', async () => {
    const loc = backend.create();
    let service: ServiceProcess | undefined;
    try {
      service = await startServiceProcess(loc.env);
      const url = service.url;
      const acked: string[] = [];
      const unexpected: string[] = [];
      let killed = false;
      let hooks = 0;

      const client = async (n: number) => {
        for (let i = 0; !killed; i++) {
          const cards = Array.from({ length: 1 + ((n + i) % 3) }, () => randomUUID());
          try {
            const res = await fetch(`${url}/cds-services/${SERVICE}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: feedbackBody(cards, i) });
            const text = await res.text();
            if (res.status === 200) acked.push(...cards);
            else unexpected.push(`${res.status} ${text.slice(0, 200)}`);
          } catch (err) {
            if (!killed) unexpected.push(`request failed before the kill: ${(err as Error).message}`);
          }
        }
      };
      const hookClient = async () => {
        while (!killed) {
          try {
            await issueCards(url, templates);
            hooks++;
          } catch {
            // the process died mid-call
          }
        }
      };
      const load = [...Array.from({ length: CLIENTS }, (_, n) => client(n)), hookClient(), hookClient()];

      await until(() => acked.length >= ACKED_BEFORE_KILL || unexpected.length > 0, 30_000, `${ACKED_BEFORE_KILL} acknowledged feedback items`);
      killed = true; // from here on, failed requests are the kill's doing
      service.child.kill('SIGKILL');
      const exit = await service.exited;
      await Promise.all(load);
      expect(exit.signal).toBe('SIGKILL');
      expect(unexpected).toEqual([]);

      // Restart on the same store: it must come up (SQLite recovers its WAL, migrations are a no-op) …
      service = await startServiceProcess(loc.env);
      // … and every acknowledged item must be there.
      const store = await loc.open();
      try {
        const stored = new Set((await store.listFeedback({ limit: 1_000_000 })).map((r) => r.cardUuid));
        const missing = acked.filter((uuid) => !stored.has(uuid));
        expect({ acked: acked.length, missing }).toEqual({ acked: acked.length, missing: [] });
        expect(stored.size).toBeGreaterThanOrEqual(acked.length); // items in flight at the kill may or may not be there
        console.info(`${backend.name}: ${acked.length} items acknowledged before SIGKILL, all present after restart (${stored.size - acked.length} unacknowledged in-flight items also stored; ${hooks} hook calls ran alongside)`);
      } finally {
        await store.close();
      }

      // The restarted service and the CLI read the same data.
      const res = await fetch(`${service.url}/cds-services/${SERVICE}/feedback/summary`);
      expect(res.status).toBe(200);
      const summary = (await res.json()) as { unknownCardFeedback: number };
      expect(summary.unknownCardFeedback).toBeGreaterThanOrEqual(acked.length);
      const cli = JSON.parse(await runCli(['feedback-summary', '--service', SERVICE, '--json'], loc.env)) as { unknownCardFeedback: number };
      expect(cli.unknownCardFeedback).toBe(summary.unknownCardFeedback);

      const stop = await service.stop();
      service = undefined;
      expect(stop.code).toBe(0);
    } finally {
      if (service) {
        service.child.kill('SIGKILL');
        await service.exited;
      }
      await loc.cleanup();
    }
  });
});
