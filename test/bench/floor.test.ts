/**
 * The benchmark floor (`BENCH_FLOOR=on`): `POST /cds-services/_floor` answers one fixed card behind the same
 * middleware as a hook call; it does not exist by default, and production refuses to start with it.
 */
import { ConfigError, loadConfig } from '../../src/config';
import type { RunningServer } from '../../src/server';
import { startTestService } from '../support/service';

let off: RunningServer;
let on: RunningServer;
beforeAll(async () => {
  off = await startTestService();
  on = await startTestService({ config: { benchFloor: 'on' } });
});
afterAll(async () => {
  await off?.close();
  await on?.close();
});

const post = (url: string, body: string) => fetch(`${url}/cds-services/_floor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

it('is off by default: the path is an unknown service', async () => {
  expect(loadConfig({}).benchFloor).toBe('off');
  const res = await post(off.url, '{"hook":"patient-view"}');
  expect(res.status).toBe(404);
});

it('with BENCH_FLOOR=on parses the body like a hook call and answers one fixed card', async () => {
  const res = await post(on.url, JSON.stringify({ hook: 'patient-view', prefetch: { observations: { resourceType: 'Bundle', entry: [] } } }));
  expect(res.status).toBe(200);
  expect(res.headers.get('x-request-id')).toBeTruthy(); // the same middleware: request log, security headers
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  const body = (await res.json()) as { cards: { summary: string; indicator: string }[] };
  expect(body.cards).toHaveLength(1);
  expect(body.cards[0]).toMatchObject({ indicator: 'info' });
  expect((await post(on.url, '{"hook":')).status).toBe(400);
  expect((await post(on.url, '[1]')).status).toBe(400);
});

it('production refuses to start with it', () => {
  expect(() => loadConfig({ NODE_ENV: 'production', BENCH_FLOOR: 'on' })).toThrow(ConfigError);
  expect(() => loadConfig({ NODE_ENV: 'production', BENCH_FLOOR: 'on' })).toThrow(/BENCH_FLOOR=on is refused in production/);
});
