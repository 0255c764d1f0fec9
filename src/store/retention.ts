/**
 * Retention (`RETENTION_DAYS`): card history issued, and feedback received, more than that many days ago are
 * deleted — once shortly after start-up, then every `intervalMs` (default 6 hours). 0 keeps everything (no
 * timer). A failed purge is logged and tried again at the next tick; the hook path never waits for it. Several
 * replicas purging the same database is harmless (the deletes are idempotent).
 */
import type { Logger } from '../logger';
import type { Store } from './types';

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  store: Pick<Store, 'purgeBefore'>;
  days: number;
  logger: Logger;
  intervalMs?: number;
  now?: () => number;
}

export interface Retention {
  /** One purge now (the timer's work); resolves with what it deleted, or undefined when it failed. */
  runNow(): Promise<{ cards: number; feedback: number } | undefined>;
  /** Stops the timer and waits for a purge in progress. Idempotent. */
  stop(): Promise<void>;
}

export function startRetention(opts: RetentionOptions): Retention | undefined {
  if (opts.days <= 0) return undefined;
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? 6 * 3_600_000;
  let running: Promise<{ cards: number; feedback: number } | undefined> | undefined;
  let stopped = false;

  const purge = async () => {
    const cutoffMs = now() - opts.days * DAY_MS;
    try {
      const deleted = await opts.store.purgeBefore(cutoffMs);
      if (deleted.cards > 0 || deleted.feedback > 0) opts.logger.info({ retentionDays: opts.days, cutoff: new Date(cutoffMs).toISOString(), deleted }, 'retention: old card history and feedback deleted');
      return deleted;
    } catch (err) {
      if (!stopped) opts.logger.warn({ err, retentionDays: opts.days }, 'retention: purge failed; it is tried again at the next interval');
      return undefined;
    }
  };
  // One purge at a time: a call while one runs gets that one.
  const runNow = () => (running ??= purge().finally(() => (running = undefined)));

  // Not at once: start-up (migrations, first calls) goes first.
  const first = setTimeout(() => void runNow(), Math.min(intervalMs, 10_000));
  const timer = setInterval(() => void runNow(), intervalMs);
  first.unref();
  timer.unref();
  return {
    runNow,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
