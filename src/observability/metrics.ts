/**
 * Prometheus metrics (prom-client), one registry per app — never prom-client's global default registry, so
 * several services can run in one process (tests) without sharing or clashing counters.
 *
 * What is measured, and with which labels (all bounded: service ids and finding codes come from the rule
 * files, statuses from HTTP; never a patient id, a token, a URL or anything from a request body):
 *
 *   il6cds_http_requests_total{route,method,status}         every request, by route class
 *   il6cds_hook_requests_total{service,status}               hook calls (POST /cds-services/{id})
 *   il6cds_hook_duration_seconds{service}                    hook calls, request start to response end
 *   il6cds_hook_stage_duration_seconds{service,stage}        successful hook calls, per stage: validate,
 *                                                            prefetch (without the FHIR fallback), fetch (the
 *                                                            FHIR fallback, only calls that used it), evaluate, render
 *   il6cds_fhir_fetch_errors_total{reason}                   failed FHIR fallback queries by reason class
 *   il6cds_cards_issued_total{service,finding,indicator}     cards returned
 *   il6cds_card_history_{enqueued,written,dropped,lost,write_failures}_total, il6cds_card_history_queued
 *   il6cds_rule_set_info{service,version,profile}            1 per loaded service
 *   process_* and nodejs_*                                   prom-client's default process metrics
 */
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HistoryStats } from '../history/recorder';
import type { HookListener } from '../hooks/router';
import type { FetchReport } from '../prefetch/resolve';
import type { ServiceRegistry } from '../services/registry';
import { fetchErrorReason } from './fetch-errors';

export const STAGES = ['validate', 'prefetch', 'fetch', 'evaluate', 'render'] as const;

const STAGE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsOptions {
  registry: ServiceRegistry;
  /** The card-history recorder's live counters (undefined with CARD_HISTORY=off). */
  historyStats?: HistoryStats;
  /** prom-client's process metrics (CPU, memory, event loop, GC); default true. */
  processMetrics?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  /** Counts every request and times hook calls; mount first. */
  readonly middleware: RequestHandler;
  /** Stage timings and cards of every successful hook call. */
  readonly hookListener: HookListener;
  /** For `ResolveOptions.onFetched`: FHIR fallback errors. */
  readonly onFetched: (report: FetchReport) => void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** The route class of a request path (a fixed, small set: paths themselves may hold anything). */
export function routeClass(path: string): string {
  if (path === '/cds-services') return 'discovery';
  if (/^\/cds-services\/[^/]+$/.test(path)) return 'service';
  if (/^\/cds-services\/[^/]+\/feedback$/.test(path)) return 'feedback';
  if (path.startsWith('/cds-services/')) return 'cds-other';
  if (path === '/metrics') return 'metrics';
  if (path === '/healthz' || path === '/readyz') return 'health';
  if (path === '/' || path.startsWith('/preview/')) return 'preview';
  return 'other';
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const knownService = (id: string) => (opts.registry.get(id) ? id : 'unknown');

  const httpRequests = new Counter({
    name: 'il6cds_http_requests_total',
    help: 'HTTP requests by route class, method and status (status "aborted": the client went away before the response ended).',
    labelNames: ['route', 'method', 'status'],
    registers,
  });
  const hookRequests = new Counter({
    name: 'il6cds_hook_requests_total',
    help: 'CDS service calls (POST /cds-services/{id}) by service and HTTP status.',
    labelNames: ['service', 'status'],
    registers,
  });
  const hookDuration = new Histogram({
    name: 'il6cds_hook_duration_seconds',
    help: 'CDS service calls, from the request start to the end of the response, every status.',
    labelNames: ['service'],
    buckets: HOOK_BUCKETS,
    registers,
  });
  const stageDuration = new Histogram({
    name: 'il6cds_hook_stage_duration_seconds',
    help: 'Stages of successful CDS service calls: validate, prefetch (request prefetch and screening, without the FHIR fallback), fetch (the FHIR fallback; only calls that used it), evaluate, render.',
    labelNames: ['service', 'stage'],
    buckets: STAGE_BUCKETS,
    registers,
  });
  const fetchErrors = new Counter({
    name: 'il6cds_fhir_fetch_errors_total',
    help: 'FHIR fallback queries that failed, by reason class (timeout, network, http_auth, http_4xx, http_5xx, invalid_response, too_large, foreign_link, other).',
    labelNames: ['reason'],
    registers,
  });
  const cardsIssued = new Counter({
    name: 'il6cds_cards_issued_total',
    help: 'Cards returned, by service, finding code (card source.topic.code) and indicator.',
    labelNames: ['service', 'finding', 'indicator'],
    registers,
  });
  new Gauge({
    name: 'il6cds_rule_set_info',
    help: 'The loaded CDS services: rule-set version and threshold profile (value 1).',
    labelNames: ['service', 'version', 'profile'],
    registers,
    collect() {
      for (const s of opts.registry.services) this.set({ service: s.id, version: s.ruleSet.version, profile: s.profile }, 1);
    },
  });

  const stats = opts.historyStats;
  if (stats) {
    const mirror = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    mirror('il6cds_card_history_enqueued_total', 'Issued cards put on the card-history queue.', () => stats.enqueued);
    mirror('il6cds_card_history_written_total', 'Issued cards written to the store.', () => stats.written);
    mirror('il6cds_card_history_dropped_total', 'Issued cards not recorded because the card-history queue was full.', () => stats.dropped);
    mirror('il6cds_card_history_lost_total', 'Issued cards abandoned after repeated failed writes.', () => stats.lost);
    mirror('il6cds_card_history_write_failures_total', 'Failed card-history batch writes (each is retried).', () => stats.writeFailures);
    new Gauge({
      name: 'il6cds_card_history_queued',
      help: 'Issued cards waiting to be written right now.',
      registers,
      collect() {
        this.set(stats.queued);
      },
    });
  }

  const middleware: RequestHandler = (req, res, next) => {
    const start = performance.now();
    const path = req.path;
    const route = routeClass(path);
    const method = METHODS.has(req.method) ? req.method : 'OTHER';
    res.once('close', () => {
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      httpRequests.inc({ route, method, status });
      if (route === 'service' && req.method === 'POST') {
        const service = knownService(decodeSegment(path.slice('/cds-services/'.length)));
        hookRequests.inc({ service, status });
        hookDuration.observe({ service }, (performance.now() - start) / 1000);
      }
    });
    next();
  };

  const hookListener: HookListener = ({ service, result }) => {
    for (const stage of STAGES) {
      const ms = result.timings[stage as keyof typeof result.timings];
      if (ms !== undefined) stageDuration.observe({ service: service.id, stage }, ms / 1000);
    }
    for (const card of result.response.cards) {
      cardsIssued.inc({ service: service.id, finding: card.source.topic?.code ?? 'none', indicator: card.indicator });
    }
  };

  const onFetched = (report: FetchReport) => {
    for (const err of report.errors) fetchErrors.inc({ reason: fetchErrorReason(err) });
  };

  return {
    registry,
    middleware,
    hookListener,
    onFetched,
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
