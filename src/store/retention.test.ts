import { Writable } from 'node:stream';
import { createLogger } from '../logger';
import { startRetention } from './retention';

const DAY = 86_400_000;

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (lines.push(...c.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), cb()) }));
  return { lines, logger };
}

describe('retention', () => {
  it('is off with 0 days: no timer, nothing purged', () => {
    const purgeBefore = jest.fn();
    expect(startRetention({ store: { purgeBefore }, days: 0, logger: capture().logger })).toBeUndefined();
    expect(purgeBefore).not.toHaveBeenCalled();
  });

  it('purges before now − days and logs what it deleted', async () => {
    const { lines, logger } = capture();
    const purgeBefore = jest.fn().mockResolvedValue({ cards: 12, feedback: 3 });
    const now = Date.parse('2026-11-21T12:00:00Z');
    const r = startRetention({ store: { purgeBefore }, days: 30, logger, now: () => now, intervalMs: 3_600_000 })!;
    expect(await r.runNow()).toEqual({ cards: 12, feedback: 3 });
    expect(purgeBefore).toHaveBeenCalledWith(now - 30 * DAY);
    expect(lines.find((l) => l.msg === 'retention: old card history and feedback deleted')).toMatchObject({ deleted: { cards: 12, feedback: 3 }, cutoff: '2026-10-22T12:00:00.000Z' });
    await r.stop();
  });

  it('a failed purge is logged and retried at the next interval; the timer keeps running', async () => {
    const { lines, logger } = capture();
    const purgeBefore = jest.fn().mockRejectedValueOnce(new Error('database is locked')).mockResolvedValue({ cards: 0, feedback: 0 });
    const r = startRetention({ store: { purgeBefore }, days: 1, logger, intervalMs: 20 })!;
    for (let i = 0; i < 500 && purgeBefore.mock.calls.length < 3; i++) await new Promise((res) => setTimeout(res, 10));
    await r.stop();
    expect(purgeBefore.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.msg === 'retention: purge failed; it is tried again at the next interval')).toHaveLength(1);
    const calls = purgeBefore.mock.calls.length;
    await new Promise((res) => setTimeout(res, 60));
    expect(purgeBefore.mock.calls.length).toBe(calls); // stopped
  });

  it('a store that throws at once (not a rejected promise) does not stop later purges', async () => {
    const purgeBefore = jest.fn<Promise<{ cards: number; feedback: number }>, [number]>(() => {
      throw new Error('store is closed');
    });
    const r = startRetention({ store: { purgeBefore }, days: 1, logger: capture().logger, intervalMs: 3_600_000 })!;
    expect(await r.runNow()).toBeUndefined();
    purgeBefore.mockResolvedValue({ cards: 2, feedback: 0 });
    expect(await r.runNow()).toEqual({ cards: 2, feedback: 0 });
    await r.stop();
  });

  it('stop waits for a purge in progress, and one purge runs at a time', async () => {
    let finish!: () => void;
    const purgeBefore = jest.fn(() => new Promise<{ cards: number; feedback: number }>((res) => (finish = () => res({ cards: 1, feedback: 0 }))));
    const r = startRetention({ store: { purgeBefore }, days: 1, logger: capture().logger, intervalMs: 3_600_000 })!;
    const a = r.runNow();
    const b = r.runNow();
    expect(purgeBefore).toHaveBeenCalledTimes(1);
    let stopped = false;
    const stopping = r.stop().then(() => (stopped = true));
    await new Promise((res) => setImmediate(res));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(await a).toEqual({ cards: 1, feedback: 0 });
    expect(await b).toEqual({ cards: 1, feedback: 0 });
  });
});
