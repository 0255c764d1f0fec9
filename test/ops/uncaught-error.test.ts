/**
 * An error nothing catches (a bug outside any request) on the compiled service: it logs one fatal line instead of
 * Node's raw dump on stderr, writes the card history still queued, writes out its log and exits 1, so that its
 * supervisor restarts it. The crash is set off by a preloaded script (`throw-on-sigusr2.js`), not by the service.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getSummary, issueCards } from '../feedback/helpers';
import { ensureBuilt, ROOT, startServiceProcess, type ServiceProcess } from './support';

const PRELOAD = path.join(__dirname, 'throw-on-sigusr2.js');
const templates = (JSON.parse(readFileSync(path.join(ROOT, 'cds-services', 'il6-inflammation', 'discovery.json'), 'utf8')) as { prefetch: Record<string, string> }).prefetch;

let dataDir: string;
const started: ServiceProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-uncaught-'));
}, 300_000);

afterAll(() => {
  for (const svc of started) if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function start(dir: string, preload: boolean, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const svc = await startServiceProcess({ AUTH: 'disabled', DATA_DIR: dir, ...(preload ? { NODE_OPTIONS: `--require ${PRELOAD}` } : {}), ...env });
  started.push(svc);
  return svc;
}

async function exitWithin(svc: ServiceProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms of the crash`)), ms)));
  try {
    return await Promise.race([svc.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

const fatalLines = (svc: ServiceProcess) => svc.logs.filter((l) => l.level === 60);

it('an uncaught exception: one fatal line naming the error, the queued card history written, exit 1', async () => {
  const dir = path.join(dataDir, 'exception');
  const svc = await start(dir, true);
  const cards = await issueCards(svc.url, templates);
  // At once: card history is written up to 200 ms behind the response, so these cards are still queued.
  svc.child.kill('SIGUSR2');
  expect(await exitWithin(svc, 6000)).toEqual({ code: 1, signal: null });

  expect(fatalLines(svc)).toEqual([
    expect.objectContaining({
      msg: 'uncaught error: exiting (exit code 1) without finishing the calls in flight',
      origin: 'uncaughtException',
      err: expect.objectContaining({ type: 'TypeError', message: 'deliberate test crash', stack: expect.stringContaining('throw-on-sigusr2.js') }),
    }),
  ]);
  expect(svc.stderr()).toBe('');

  const after = await start(dir, false);
  const { summary } = await getSummary(after.url);
  expect(summary.totals.issued).toBe(cards.length);
  after.child.kill('SIGTERM');
  await after.exited;
}, 60_000);

it('a rejected promise nothing handles: the same fatal line (origin unhandledRejection) and exit 1', async () => {
  const svc = await start(path.join(dataDir, 'rejection'), true, { IL6_TEST_CRASH: 'rejection' });
  svc.child.kill('SIGUSR2');
  expect(await exitWithin(svc, 6000)).toEqual({ code: 1, signal: null });
  expect(fatalLines(svc)).toEqual([
    expect.objectContaining({ origin: 'unhandledRejection', err: expect.objectContaining({ type: 'RangeError', message: 'deliberate test rejection' }) }),
  ]);
  expect(svc.stderr()).toBe('');
}, 60_000);
