/**
 * Start-up and shutdown, explicitly: `startServer` loads the services, builds the app and listens;
 * `close()` stops accepting connections, lets in-flight requests finish, closes idle keep-alive sockets,
 * and resolves when the server is down.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from './app';
import type { Config } from './config';
import type { Logger } from './logger';
import { loadServices, type ServiceRegistry } from './services/registry';

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  registry: ServiceRegistry;
  close(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  /** Extra dependencies (listeners …); the registry is loaded from `config.servicesDir` unless given. */
  deps?: Partial<Omit<AppDeps, 'config' | 'logger'>>;
}

export async function startServer({ config, logger, deps = {} }: StartOptions): Promise<RunningServer> {
  const registry =
    deps.registry ??
    loadServices(config.servicesDir, {
      profile: config.rulesProfile,
      onProfileFallback: (id, profile) => logger.warn({ service: id, profile }, 'service does not define the configured rules profile; using default'),
    });
  const app = createApp({ ...deps, config, logger, registry });
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
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  logger.info({ port, services: registry.services.map((s) => `${s.id}@${s.ruleSet.version}/${s.profile}`) }, 'il6-cds listening');

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    registry,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
