/**
 * An error nothing catches (a bug outside any request) on the compiled service: it logs one fatal line instead of
 * Node's raw dump on stderr, writes the card history still queued, writes out its log and exits 1, so that its
 * supervisor restarts it. The crash is set off by a preloaded script (`throw-on-sigusr2.js`), not by the service.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getSummary, issueCards } from '../feedback/helpers';
import { exitWithin, ROOT, serviceProcesses, type ServiceProcess } from './support';

const templates = (JSON.parse(readFileSync(path.join(ROOT, 'cds-services', 'il6-inflammation', 'discovery.json'), 'utf8')) as { prefetch: Record<string, string> }).prefetch;
const services = serviceProcesses('il6-cds-uncaught-');
const CRASHING = { NODE_OPTIONS: `--require ${path.join(__dirname, 'throw-on-sigusr2.js')}` };

const fatalLines = (svc: ServiceProcess) => svc.logs.filter((l) => l.level === 60);

it('an uncaught exception: one fatal line naming the error, the queued card history written, exit 1', async () => {
  const svc = await services.start('exception', CRASHING);
  const cards = await issueCards(svc.url, templates);
  // At once: card history is written up to 200 ms behind the response, so these cards are still queued.
  svc.child.kill('SIGUSR2');
  expect(await exitWithin(svc, 6000, 'the crash')).toEqual({ code: 1, signal: null });

  expect(fatalLines(svc)).toEqual([
    expect.objectContaining({
      msg: 'uncaught error: exiting (exit code 1) without finishing the calls in flight',
      origin: 'uncaughtException',
      err: expect.objectContaining({ type: 'TypeError', message: 'deliberate test crash', stack: expect.stringContaining('throw-on-sigusr2.js') }),
    }),
  ]);
  expect(svc.stderr()).toBe('');

  const after = await services.start('exception');
  const { summary } = await getSummary(after.url);
  expect(summary.totals.issued).toBe(cards.length);
  after.child.kill('SIGTERM');
  await after.exited;
}, 60_000);

it('a rejected promise nothing handles: the same fatal line (origin unhandledRejection) and exit 1', async () => {
  const svc = await services.start('rejection', { ...CRASHING, IL6_TEST_CRASH: 'rejection' });
  svc.child.kill('SIGUSR2');
  expect(await exitWithin(svc, 6000, 'the crash')).toEqual({ code: 1, signal: null });
  expect(fatalLines(svc)).toEqual([
    expect.objectContaining({ origin: 'unhandledRejection', err: expect.objectContaining({ type: 'RangeError', message: 'deliberate test rejection' }) }),
  ]);
  expect(svc.stderr()).toBe('');
}, 60_000);
