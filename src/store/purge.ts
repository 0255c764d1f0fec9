/**
 * The retention purge, shared by both stores: its SQL (`?` placeholders; the PostgreSQL store numbers them)
 * and its batch loop. Card history issued before the cutoff, then feedback received before it, at most
 * `PURGE_BATCH` rows per statement (each its own short transaction, so writers are never held up for long).
 */
import type { PurgeResult } from './types';

/** Most rows one purge statement deletes. */
export const PURGE_BATCH = 5000;

const STEPS = [
  { key: 'cards', sql: 'DELETE FROM card_history WHERE card_uuid IN (SELECT card_uuid FROM card_history WHERE issued_at_ms < ? LIMIT ?)' },
  { key: 'feedback', sql: 'DELETE FROM feedback WHERE id IN (SELECT id FROM feedback WHERE received_at_ms < ? LIMIT ?)' },
] as const;

/** Runs the purge with `deleteBatch` (one statement, answering the rows it deleted) until nothing is left. */
export async function purgeInBatches(cutoffMs: number, deleteBatch: (sql: string, params: [number, number]) => number | Promise<number>): Promise<PurgeResult> {
  const result: PurgeResult = { cards: 0, feedback: 0 };
  for (const step of STEPS) {
    for (;;) {
      const deleted = await deleteBatch(step.sql, [cutoffMs, PURGE_BATCH]);
      result[step.key] += deleted;
      if (deleted < PURGE_BATCH) break;
      // One batch per turn of the event loop: SQLite's driver is synchronous, and hook calls are served between.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return result;
}
