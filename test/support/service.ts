/**
 * Test support: the service's configuration for tests, and a running service on a free loopback port.
 * Every HTTP test starts the real server (real Express app, real sockets), never a mock.
 */
import { readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { silentLogger, type Logger } from '../../src/logger';
import { startServer, type RunningServer, type StartOptions } from '../../src/server';

/**
 * The embedded store of test services: one SQLite file per jest worker in the system temp folder, never the
 * project's `.local/data`. Folders of workers that are gone are removed.
 */
const TEST_DATA_ROOT = path.join(os.tmpdir(), 'il6-cds-test-data');
export const TEST_DATA_DIR = path.join(TEST_DATA_ROOT, String(process.pid));
try {
  for (const pid of readdirSync(TEST_DATA_ROOT)) if (pid !== String(process.pid) && !alive(Number(pid))) rmSync(path.join(TEST_DATA_ROOT, pid), { recursive: true, force: true });
} catch {
  // nothing to clean
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Defaults for tests: loopback, any free port, silent log, the store in TEST_DATA_DIR. Overrides win. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  // AUTH disabled so that feature tests run without tokens; the security tests (test/security/) turn it on.
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', AUTH: 'disabled', DATA_DIR: TEST_DATA_DIR }, overrides);
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
