/**
 * Per-stage timings from the service's own log: each hook call logs one `hook` line with the milliseconds of
 * its stages (validate, prefetch, fetch, evaluate, render) and one `request` line with the whole request
 * (from the first middleware to the end of the response, body reading and parsing included).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { median, percentile, round } from './stats';

export const STAGES = ['validate', 'prefetch', 'fetch', 'evaluate', 'render'] as const;

export interface StageSummary {
  /** Hook calls in the window. */
  calls: number;
  /** Median and p99 of each stage, ms. */
  median: Partial<Record<(typeof STAGES)[number] | 'request' | 'other', number>>;
  p99: Partial<Record<(typeof STAGES)[number] | 'request', number>>;
}

export function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The log lines written between two offsets, parsed (lines that are not JSON are skipped). */
export function readLog(file: string, from: number, to: number = logSize(file)): Record<string, unknown>[] {
  if (to <= from) return [];
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf
      .toString('utf8')
      .split('\n')
      .flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  } finally {
    closeSync(fd);
  }
}

/** Stage medians and p99s of the hook calls in `lines`, and of their whole requests (`route`). */
export function summarizeStages(lines: Record<string, unknown>[], route: string): StageSummary {
  const hooks = lines.filter((l) => l.msg === 'hook');
  const requests = lines.filter((l) => l.msg === 'request' && l.route === route && l.status === 200).map((l) => Number(l.ms));
  const out: StageSummary = { calls: hooks.length, median: {}, p99: {} };
  let stageSum = 0;
  for (const stage of STAGES) {
    const values = hooks.map((h) => (h.ms as Record<string, number> | undefined)?.[stage]).filter((v): v is number => typeof v === 'number');
    if (values.length === 0) continue;
    out.median[stage] = round(median(values), 3);
    out.p99[stage] = round(percentile(values, 99), 3);
    stageSum += median(values)!;
  }
  if (requests.length > 0) {
    out.median.request = round(median(requests), 3);
    out.p99.request = round(percentile(requests, 99), 3);
    // Everything a request costs outside the hook's stages: HTTP, body parsing, middleware, serialisation, logging.
    if (hooks.length > 0) out.median.other = round(Math.max(0, median(requests)! - stageSum), 3);
  }
  return out;
}
