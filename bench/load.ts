/**
 * Load from this process with autocannon, on loopback: a fixed number of connections, each sending the next
 * request as soon as the previous answer arrived (closed loop). Latencies are kept exactly (autocannon's
 * 'response' event, hrtime-based), not from its millisecond histogram.
 */
import autocannon from 'autocannon';
import { mean, percentile, round } from './stats';

export interface LoadSpec {
  url: string;
  body: Buffer;
  connections: number;
  /** Measured seconds (or `amount` requests, whichever is given; `amount` wins). */
  durationS: number;
  amount?: number;
  /** Unmeasured seconds before, same connections (JIT, caches, connection set-up). */
  warmupS: number;
  warmupAmount?: number;
}

export interface LoadResult {
  connections: number;
  requests: number;
  durationS: number;
  /** Completed 2xx requests per second. */
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function fire(spec: LoadSpec, durationS: number, amount: number | undefined, latencies?: number[]): Promise<{ ok: number; non2xx: number; errors: number; timeouts: number; seconds: number }> {
  const instance = autocannon({
    url: spec.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: spec.body,
    connections: spec.connections,
    pipelining: 1,
    timeout: 60,
    // autocannon notices the end of a run at its next sample tick (default every second): tick often.
    sampleInt: 100,
    ...(amount !== undefined ? { amount: Math.max(amount, spec.connections) } : { duration: durationS }),
  });
  let ok = 0;
  let non2xx = 0;
  const started = performance.now();
  let last = started;
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    last = performance.now();
    if (status >= 200 && status < 300) {
      ok++;
      latencies?.push(ms);
    } else {
      non2xx++;
    }
  });
  const result = await instance;
  // Throughput over the time answers came in (start to last answer), not until autocannon's next tick.
  return { ok, non2xx, errors: result.errors, timeouts: result.timeouts, seconds: (last - started) / 1000 };
}

export async function runLoad(spec: LoadSpec, during?: { onStart?: () => void; onMeasured?: () => void }): Promise<LoadResult> {
  if (spec.warmupS > 0 || spec.warmupAmount) await fire(spec, spec.warmupS, spec.warmupAmount);
  const latencies: number[] = [];
  during?.onStart?.();
  const r = await fire(spec, spec.durationS, spec.amount, latencies);
  during?.onMeasured?.();
  return {
    connections: spec.connections,
    requests: r.ok,
    durationS: round(r.seconds, 2)!,
    rps: round(r.ok / r.seconds, 1)!,
    latencyMs: {
      p50: round(percentile(latencies, 50), 2) ?? NaN,
      p90: round(percentile(latencies, 90), 2) ?? NaN,
      p99: round(percentile(latencies, 99), 2) ?? NaN,
      max: round(percentile(latencies, 100), 2) ?? NaN,
      mean: round(mean(latencies), 2) ?? NaN,
    },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}
