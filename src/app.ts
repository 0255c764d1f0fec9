/**
 * The Express application: one router per feature, one error mapper. Building it has no side effects
 * (no listening, no timers), so tests and the server use the same app.
 */
import express, { type Express } from 'express';
import { createAuth, type Auth } from './auth';
import { MemoryReplayStore } from './auth/replay';
import type { Config } from './config';
import { discoveryRouter } from './discovery/router';
import { jsonShapeGuard } from './hardening/json-limits';
import { securityHeaders } from './hardening/security-headers';
import { feedbackRouter } from './feedback/router';
import { hookRouter, type HookListener } from './hooks/router';
import { benchFloorRouter } from './http/bench-floor';
import { cors } from './http/cors';
import { hostRequired } from './http/client-errors';
import { errorHandler, notFoundHandler } from './http/errors';
import { requestLog } from './http/request-log';
import type { Logger } from './logger';
import { createMetrics, healthRouter, type Lifecycle, type Metrics } from './observability';
import { previewEnabled, previewRouter } from './preview/router';
import type { ServiceRegistry } from './services/registry';
import type { Store } from './store/types';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: ServiceRegistry;
  hookListeners?: HookListener[];
  /** Client authentication, built by startServer. Without it: from the configuration, with an in-memory replay store. */
  auth?: Auth;
  /** Card history and feedback storage; without it the feedback routes are not served. */
  store?: Store;
  /** Whether a card was issued here and its history row is still waiting to be written (CardHistoryRecorder.isPending). */
  isCardPending?: (cardUuid: string) => boolean;
  /** Prometheus metrics (startServer builds them with the card-history counters); without: built here. None with METRICS=off. */
  metrics?: Metrics;
  /** Shutdown state: once `draining`, /readyz answers 503. */
  lifecycle?: Lifecycle;
}

export function createApp(deps: AppDeps): Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(securityHeaders());
  app.use(requestLog(logger));
  const metrics = config.metrics === 'on' ? (deps.metrics ?? createMetrics({ registry: deps.registry })) : undefined;
  if (metrics) app.use(metrics.middleware);
  // GET /healthz, /readyz, /metrics: outside /cds-services, so no client JWT (keep them off the public side of the proxy).
  const auth = deps.auth ?? createAuth(config, logger, { replay: new MemoryReplayStore() });
  app.use(healthRouter({ registry: deps.registry, store: deps.store, replay: auth.replay, lifecycle: deps.lifecycle, metrics }));
  app.use(cors);
  app.use(hostRequired);
  // Every /cds-services route (discovery, hooks, feedback) needs a valid client JWT, checked before the body is
  // read; the caller (and its FHIR-server allowlist) is in res.locals.cdsClient. CORS preflights are answered above.
  app.use('/cds-services', auth.middleware);
  // Any content type is read as JSON: a body that is not JSON gets a clear 400 whatever its label says.
  app.use(express.json({ limit: config.bodyLimitBytes, type: () => true, strict: true }));
  app.use(jsonShapeGuard(config.jsonMaxDepth));
  app.use(discoveryRouter(deps.registry));
  // The benchmark floor (BENCH_FLOOR=on, never in production): same middleware as a hook call, one fixed card.
  if (config.benchFloor === 'on') app.use(benchFloorRouter());
  const invokeOptions = { timeoutMs: config.fhirTimeoutMs, maxPages: config.fhirMaxPages, maxResources: config.fhirMaxResources };
  app.use(
    hookRouter({
      registry: deps.registry,
      logger,
      listeners: [...(deps.hookListeners ?? []), ...(metrics ? [metrics.hookListener] : [])],
      invokeOptions: { ...invokeOptions, onFetched: metrics?.onFetched },
    }),
  );
  if (deps.store) app.use(feedbackRouter({ registry: deps.registry, store: deps.store, logger, isCardPending: deps.isCardPending }));
  // The card preview page (GET /, /preview/…): no authentication, so only where enabled (never by default in production).
  if (previewEnabled(config)) {
    if (config.nodeEnv === 'production') logger.warn({ preview: 'on' }, 'PREVIEW=on in production: GET / and /preview/api/ serve patient data without authentication');
    app.use(previewRouter({ registry: deps.registry, logger, invokeOptions, hosts: config.previewHosts }));
  }
  app.use(notFoundHandler);
  app.use(errorHandler(logger, config.bodyLimitBytes));
  return app;
}
