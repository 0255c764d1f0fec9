/**
 * Start-up and shutdown, explicitly: `startServer` loads the services, builds the app and listens;
 * `close()` stops accepting connections, lets in-flight requests finish, closes idle keep-alive sockets,
 * writes the card history still queued, closes the store it opened, and resolves when all is down.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from './app';
import { answerClientError, answerUnmetExpectation } from './http/client-errors';
import { createAuth } from './auth';
import type { Config } from './config';
import { createCardHistory, type CardHistoryRecorder } from './history';
import { loadFhirR4Validators } from './hardening/fhir-r4';
import type { Logger } from './logger';
import { createMetrics, type Lifecycle, type Metrics } from './observability';
import { loadServices, type ServiceRegistry } from './services/registry';
import { openStore, type Store } from './store';
import { startRetention, type Retention } from './store/retention';

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  registry: ServiceRegistry;
  /** Card history and feedback storage (`ping()` for readiness). Closed by `close()` unless it was passed in `deps.store`. */
  store: Store;
  /** The retention purge (`RETENTION_DAYS` > 0), stopped by `close()`. */
  retention?: Retention;
  /** The card-history recorder, undefined with CARD_HISTORY=off: `stats` for metrics, `flush()`. */
  history?: CardHistoryRecorder;
  /** Prometheus metrics (undefined with METRICS=off). */
  metrics?: Metrics;
  /**
   * Graceful shutdown: stops accepting connections, answers /readyz 503, lets in-flight requests finish (their
   * responses carry `Connection: close`), closes idle keep-alive sockets, after SHUTDOWN_TIMEOUT_MS closes what is
   * still open, then writes the queued card history and closes the store. Idempotent.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Extra dependencies (listeners …); the registry is loaded from `config.servicesDir` unless given. */
  deps?: Partial<Omit<AppDeps, 'config' | 'logger'>>;
}

export async function startServer({ config, logger, deps = {} }: StartOptions): Promise<RunningServer> {
  // Client authentication first: an unsafe production configuration (ConfigError) stops start-up before anything opens.
  const auth = deps.auth ?? createAuth(config, logger);
  // The generated FHIR R4 validators (prefetch screening): loaded now, so a missing build fails start-up, not a call.
  loadFhirR4Validators();
  const registry =
    deps.registry ??
    loadServices(config.servicesDir, {
      profile: config.rulesProfile,
      onProfileFallback: (id, profile) => logger.warn({ cdsService: id, profile }, 'service does not define the configured rules profile; using default'),
    });
  // The store: the one passed in (tests), else the configured one (SQLite file, or PostgreSQL with DATABASE_URL).
  const ownStore = !deps.store;
  const store = deps.store ?? (await openStore(config, logger));
  let history: CardHistoryRecorder | undefined;
  try {
    history = await createCardHistory(config, store, logger);
  } catch (err) {
    if (ownStore) await store.close();
    throw err;
  }
  const recorder = history;
  const retention = startRetention({ store, days: config.retentionDays, logger });
  const shutdownStorage = async () => {
    await retention?.stop();
    await recorder?.close();
    if (ownStore) await store.close();
  };
  const lifecycle: Lifecycle = { draining: false };
  const metrics = deps.metrics ?? (config.metrics === 'on' ? createMetrics({ registry, historyStats: recorder?.stats }) : undefined);
  const app = createApp({
    ...deps,
    auth,
    config,
    logger,
    registry,
    store,
    hookListeners: [...(deps.hookListeners ?? []), ...(recorder ? [recorder.listener] : [])],
    isCardPending: recorder ? (uuid) => recorder.isPending(uuid) : undefined,
    metrics,
    lifecycle,
  });
  const server = http.createServer({ requireHostHeader: false }); // answered by hostRequired, with an OperationOutcome
  // Responses not yet finished, so shutdown can end their connections once they are answered.
  const inFlight = new Set<http.ServerResponse>();
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (lifecycle.draining) res.setHeader('Connection', 'close');
  });
  server.on('request', app);
  server.on('clientError', answerClientError);
  server.on('checkExpectation', answerUnmetExpectation);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await shutdownStorage();
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  auth.setListeningPort(port);
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  logger.info({ port, services: registry.services.map((s) => `${s.id}@${s.ruleSet.version}/${s.profile}`) }, 'il6-cds listening');

  // Shutdown, HTTP part: no new connections; in-flight requests finish and close their connection (no keep-alive
  // socket is reused while the server goes away); idle sockets close now, the rest after SHUTDOWN_TIMEOUT_MS.
  const drainHttp = () =>
    new Promise<void>((resolve) => {
      lifecycle.draining = true;
      logger.info({ inFlight: inFlight.size }, 'shutting down: no new connections, finishing in-flight requests');
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      const force =
        config.shutdownTimeoutMs > 0
          ? setTimeout(() => {
              logger.warn({ inFlight: inFlight.size, timeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout: closing the connections still open');
              server.closeAllConnections();
            }, config.shutdownTimeoutMs)
          : undefined;
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    registry,
    store,
    history,
    retention,
    metrics,
    close() {
      closing ??= drainHttp()
        .then(() => auth.close()).then(shutdownStorage);
      return closing;
    },
  };
}
