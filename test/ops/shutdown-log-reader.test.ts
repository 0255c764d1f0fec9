/**
 * SIGTERM when the reader of the service's stdout (the log) has gone away or stopped reading, on the compiled
 * service: it still exits 0 (log lines the reader does not take are lost). It used to hang for ever: the lines
 * queued at exit were flushed synchronously, and pino's writer retried the failing write (EPIPE) without end.
 */
import { exitWithin, serviceProcesses } from './support';

const services = serviceProcesses('il6-cds-log-reader-');
const start = () => services.start('data');

it('the reader of stdout is gone (EPIPE) and the first lines written after are the shutdown lines: SIGTERM exits 0', async () => {
  const svc = await start();
  svc.child.stdout.destroy();
  svc.child.kill('SIGTERM');
  expect(await exitWithin(svc, 5000, 'SIGTERM')).toEqual({ code: 0, signal: null });
  expect(svc.stderr()).toBe('');
}, 30_000);

it('the reader of stdout is gone and a request logged a line to the dead pipe: SIGTERM exits 0', async () => {
  const svc = await start();
  svc.child.stdout.destroy();
  expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  svc.child.kill('SIGTERM');
  expect(await exitWithin(svc, 5000, 'SIGTERM')).toEqual({ code: 0, signal: null });
  expect(svc.stderr()).toBe('');
}, 30_000);

it('the reader of stdout is alive but stopped reading (the pipe is full): SIGTERM exits 0 after at most 2 s for the log', async () => {
  const svc = await start();
  svc.child.stdout.pause();
  // ~300 kB of request log lines: more than the pipe and the reader's buffer hold.
  for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 100 }, () => fetch(`${svc.url}/healthz`).then((r) => r.text())));
  svc.child.kill('SIGTERM');
  expect(await exitWithin(svc, 8000, 'SIGTERM')).toEqual({ code: 0, signal: null });
  svc.child.stdout.destroy();
}, 60_000);
