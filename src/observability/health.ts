/**
 * Operational endpoints, outside `/cds-services` (no client JWT; keep them off the public side of the proxy):
 *
 *   GET /healthz   200 while the process serves HTTP at all (liveness)
 *   GET /readyz    200 when the rule files are loaded, the store answers `ping()` within `pingTimeoutMs` and
 *                  the server is not shutting down; else 503 with an OperationOutcome naming what is not ready
 *   GET /metrics   Prometheus exposition (when metrics are on)
 *
 * The answers name checks, never hosts, paths or credentials.
 */
import { Router } from 'express';
import type { ReplayStore } from '../auth/replay';
import { sendOutcome } from '../http/errors';
import { OperationOutcomeError, outcome, type IssueInput } from '../outcomes';
import type { ServiceRegistry } from '../services/registry';
import type { Store } from '../store/types';
import type { Metrics } from './metrics';

/** Shared between the server (which starts shutting down) and the readiness probe. */
export interface Lifecycle {
  draining: boolean;
}

export interface HealthDeps {
  registry: ServiceRegistry;
  store?: Pick<Store, 'ping' | 'kind'>;
  /** The JWT replay store: when it cannot answer, every authenticated call fails (503), so the replica is not ready. */
  replay?: Pick<ReplayStore, 'ping' | 'kind'>;
  lifecycle?: Lifecycle;
  metrics?: Metrics;
  /** Longest wait for the store's answer (default 2000 ms). */
  pingTimeoutMs?: number;
}

export interface ReadyReport {
  ready: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

export async function readiness(deps: HealthDeps): Promise<ReadyReport> {
  const checks: ReadyReport['checks'] = [];
  const ids = deps.registry.services.map((s) => s.id);
  checks.push(
    ids.length > 0
      ? { name: 'rules', ok: true, detail: `${ids.length} CDS service(s) loaded: ${ids.join(', ')}` }
      : { name: 'rules', ok: false, detail: 'no CDS service (rule file) is loaded' },
  );
  const timeoutMs = deps.pingTimeoutMs ?? 2000;
  const pings: Promise<ReadyReport['checks'][number]>[] = [];
  if (deps.store) pings.push(pingCheck('store', deps.store.ping(), timeoutMs, `the ${deps.store.kind} store`, '(card history and feedback) '));
  if (deps.replay && deps.replay.kind !== 'memory') {
    pings.push(pingCheck('replay', deps.replay.ping(), timeoutMs, `the ${deps.replay.kind} JWT replay store`, '', ': authenticated calls are refused'));
  }
  // Both at once: with both down, the answer still comes within one timeout.
  checks.push(...(await Promise.all(pings)));
  if (deps.lifecycle?.draining) checks.push({ name: 'shutdown', ok: false, detail: 'the service is shutting down' });
  return { ready: checks.every((c) => c.ok), checks };
}

export function healthRouter(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const report = await readiness(deps);
    if (report.ready) {
      res.json({ status: 'ready', checks: report.checks });
      return;
    }
    const issues: IssueInput[] = report.checks
      .filter((c) => !c.ok)
      .map((c) => ({ code: 'transient', severity: 'error', expression: c.name, diagnostics: `Not ready: ${c.detail}.` }));
    sendOutcome(res, new OperationOutcomeError(503, outcome(issues)));
  });
  const metrics = deps.metrics;
  if (metrics) {
    router.get('/metrics', async (_req, res) => {
      const { contentType, body } = await metrics.render();
      res.setHeader('Cache-Control', 'no-store');
      res.type(contentType).send(body);
    });
  }
  return router;
}

/** `<what> answers`, or `<what> <role>cannot be reached<consequence>` / `… did not answer within N ms…`. */
async function pingCheck(name: string, ping: Promise<unknown>, timeoutMs: number, what: string, role: string, consequence = ''): Promise<ReadyReport['checks'][number]> {
  try {
    await withTimeout(ping, timeoutMs);
    return { name, ok: true, detail: `${what} answers` };
  } catch (err) {
    const why = err instanceof PingTimeout ? `did not answer within ${timeoutMs} ms` : 'cannot be reached';
    return { name, ok: false, detail: `${what} ${role}${why}${consequence}` };
  }
}

class PingTimeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PingTimeout()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
