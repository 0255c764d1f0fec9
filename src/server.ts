/**
 * Start-up and shutdown, explicitly: `startServer` loads the services, builds the app and listens;
 * `close()` stops accepting connections, lets in-flight requests finish, closes idle keep-alive sockets,
 * writes the card history still queued, closes the store it opened, and resolves when all is down.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from './app';
import { createAuth } from './auth';
import type { Config } from './config';
import { createCardHistory, type CardHistoryRecorder } from './history';
import { loadFhirR4Validators } from './hardening/fhir-r4';
import type { Logger } from './logger';
import { loadServices, type ServiceRegistry } from './services/registry';
import { openStore, type Store } from './store';

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  registry: ServiceRegistry;
  /** Card history and feedback storage (`ping()` for readiness). Closed by `close()` unless it was passed in `deps.store`. */
  store: Store;
  /** The card-history recorder, undefined with CARD_HISTORY=off: `stats` for metrics, `flush()`. */
  history?: CardHistoryRecorder;
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
      onProfileFallback: (id, profile) => logger.warn({ service: id, profile }, 'service does not define the configured rules profile; using default'),
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
  const shutdownStorage = async () => {
    await recorder?.close();
    if (ownStore) await store.close();
  };
  const app = createApp({
    ...deps,
    auth,
    config,
    logger,
    registry,
    store,
    hookListeners: [...(deps.hookListeners ?? []), ...(recorder ? [recorder.listener] : [])],
    isCardPending: recorder ? (uuid) => recorder.isPending(uuid) : undefined,
  });
  const server = http.createServer(app);
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

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    registry,
    store,
    history,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      })
        .then(() => auth.close()).then(shutdownStorage);
      return closing;
    },
  };
}
