/** Metrics, health and readiness: see `metrics.ts` and `health.ts`. */
export { createMetrics, routeClass, STAGES, type Metrics, type MetricsOptions } from './metrics';
export { healthRouter, readiness, type HealthDeps, type Lifecycle, type ReadyReport } from './health';
export { fetchErrorReason, FETCH_ERROR_REASONS, type FetchErrorReason } from './fetch-errors';
