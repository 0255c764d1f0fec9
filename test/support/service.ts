/**
 * Test support: the service's configuration for tests, and a running service on a free loopback port.
 * Every HTTP test starts the real server (real Express app, real sockets), never a mock.
 */
import { loadConfig, type Config } from '../../src/config';
import { silentLogger, type Logger } from '../../src/logger';
import { startServer, type RunningServer, type StartOptions } from '../../src/server';

/** Defaults for tests: loopback, any free port, silent log. Overrides win. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1' }, overrides);
}

export interface TestServiceOptions {
  config?: Partial<Config>;
  logger?: Logger;
  deps?: StartOptions['deps'];
}

export async function startTestService(opts: TestServiceOptions = {}): Promise<RunningServer> {
  const config = testConfig(opts.config);
  return startServer({ config, logger: opts.logger ?? silentLogger, deps: opts.deps });
}
