/**
 * SIGTERM under load, on the compiled service (`node dist/src/main.js`): many hook calls are in flight, each
 * waiting on a slow FHIR server (stalled for less than the FHIR deadline). After SIGTERM every call still
 * completes (200), none gets a connection reset, new connections are refused, the card history of every call
 * is in the database, and the process exits 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import { openStore } from '../../src/store';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { hookRequest } from '../support/cds-client';
import { ensureBuilt, exitWithin, startServiceProcess } from './support';

const CALLS = 24;
const STALL_MS = 2500;
const fixture = listFixtures().find((f) => f.slug === 'persistent-20-days-apart')!;
let fhir: TestFhirServer;
let dataDir: string;

beforeAll(async () => {
  ensureBuilt();
  fhir = await startTestFhirServer();
  await fhir.load(rebase(fixture.bundle));
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-shutdown-'));
}, 300_000);

afterAll(async () => {
  await fhir?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

it('SIGTERM during load: every in-flight hook completes, no connection reset, new connections refused, history flushed, exit 0', async () => {
  const svc = await startServiceProcess({ AUTH: 'disabled', DATA_DIR: dataDir, FHIR_TIMEOUT_MS: '6000', SHUTDOWN_TIMEOUT_MS: '20000' });
  const keys = 7;
  fhir.setFault({ stallMs: STALL_MS });
  const sent = fhir.requests.length;

  let finished = 0;
  const calls = Array.from({ length: CALLS }, () =>
    fetch(`${svc.url}/cds-services/il6-inflammation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(hookRequest(fixture.expected.patient, { fhirServer: fhir.baseUrl })),
    }).then(
      async (res) => ({ status: res.status, connection: res.headers.get('connection'), body: (await res.json()) as CdsResponse }),
      (err: unknown) => ({ error: err as Error & { cause?: { code?: string } } }),
    ).finally(() => finished++),
  );
  // Every call is in flight: the service has asked the (stalled) FHIR server for each call's data.
  await waitFor(() => fhir.requests.length - sent >= CALLS * keys, 10_000);
  svc.child.kill('SIGTERM');

  // The listener closes at once: a new connection is refused while the calls are still running.
  await waitFor(() => svc.logs.some((l) => l.msg === 'shutting down: no new connections, finishing in-flight requests'), 2000);
  await expect(connect(svc.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  expect(finished).toBe(0); // …while every call is still in flight

  fhir.setFault(undefined); // any later FHIR request (includes) answers at once
  const results = await Promise.all(calls);
  const failures = results.filter((r) => 'error' in r).map((r) => ('error' in r ? `${r.error.message} ${r.error.cause?.code ?? ''}` : ''));
  expect(failures).toEqual([]);
  let cards = 0;
  for (const r of results) {
    if ('error' in r) continue;
    expect(r.status).toBe(200);
    expect(r.connection).toBe('close'); // answered during shutdown: the connection is not kept alive
    expect(r.body.cards.map((c) => c.source.topic?.code).sort()).toEqual([...fixture.expected.findings].sort());
    cards += r.body.cards.length;
  }

  expect(await exitWithin(svc, 10_000, 'SIGTERM')).toEqual({ code: 0, signal: null });
  expect(svc.logs.filter((l) => (l.level as number) >= 50)).toEqual([]); // no error lines
  expect(svc.stderr()).toBe('');

  // The card history of every call was written before the process exited.
  const store = await openStore({ dataDir, databaseUrl: undefined, databaseSchema: 'public', databasePoolMax: 1 });
  try {
    expect((await store.listCards({ limit: 10_000 })).length).toBe(cards);
  } finally {
    await store.close();
  }
}, 60_000);

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function connect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
