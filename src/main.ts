/**
 * `npm start`: runs the service with the configuration from the environment (every setting has a working
 * default: no database, no FHIR server, nothing else needed). SIGTERM/SIGINT shut it down gracefully.
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError, loadConfig } from './config';
import { createLogger, stdoutLog, type Logger, type StdoutLog } from './logger';
import type { CardHistoryRecorder } from './history';
import { startServer, type RunningServer } from './server';
import { ServiceLoadError } from './services/registry';

/**
 * Heap growth: after a full GC, V8 lets the old generation grow to up to 4× what survived before collecting
 * again. Under sustained hook load (the parsed prefetch of every request in flight gets promoted) that is
 * ~170 MB of heap before the first full collection after start-up, ~270 MB RSS; 1.5× keeps RSS near 200 MB
 * at the same throughput (`npm run bench`, soak). Process-wide, so set here in the entry point, not in
 * startServer; a `--heap-growing-percent` given to node wins.
 */
// The build warms the validators' V8 code cache with this flag too (V8 rejects a cache made under other flags).
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString('--heap-growing-percent=50');

/** Longest wait at exit for the log to be written (a reader of stdout that takes nothing must not hold the exit up). */
const LOG_SETTLE_MS = 2000;
/** Longest wait after an uncaught error for the queued card history to be written, before the log settles. */
const CRASH_HISTORY_MS = 2000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`il6-cds: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = stdoutLog();
  const logger = createLogger(config.logLevel, log);
  let server: RunningServer | undefined;
  process.on('uncaughtException', (err, origin) => crash(err, origin, { logger, log, history: server?.history }));
  try {
    server = await startServer({ config, logger });
  } catch (err) {
    if (err instanceof ServiceLoadError) {
      console.error(`il6-cds: cannot load CDS services: ${err.message}`);
      process.exit(2);
    }
    // Start-up checks of settings that need files (trusted issuers) or the run mode (production refusals), and
    // a listen that failed because of PORT or HOST.
    const problem = err instanceof ConfigError ? err.message : describeListenError(err, config);
    if (problem) {
      console.error(`il6-cds: configuration error: ${problem}`);
      process.exit(2);
    }
    throw err;
  }
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => exitAfterLog(log, 0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exitAfterLog(log, 1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

let crashing = false;

/** Exits once the log is written (at most LOG_SETTLE_MS); after a crash, with 1 whatever `code` (a shutdown's 0 loses). */
function exitAfterLog(log: StdoutLog, code: number): void {
  void log.settle(LOG_SETTLE_MS).then(() => process.exit(crashing ? 1 : code));
}

/**
 * An uncaught exception, or a rejection nothing handled (Node 20 turns those into exceptions), leaves the process
 * in a state nothing vouches for, so it is not resumed: one fatal log line (the error's type, message and frames,
 * never request data, instead of Node's raw dump on stderr), the card history still queued is written (bounded:
 * the store may be what failed), the log is written out (bounded), and the process exits 1 for its supervisor to
 * restart it. Calls in flight are not finished; their connections close with the process.
 */
function crash(err: unknown, origin: string, at: { logger: Logger; log: StdoutLog; history?: CardHistoryRecorder }): void {
  process.exitCode = 1;
  if (crashing) return; // a second error while exiting: the first one is what the log reports
  crashing = true;
  at.logger.fatal({ err, origin }, 'uncaught error: exiting (exit code 1) without finishing the calls in flight');
  if (!at.history) return exitAfterLog(at.log, 1);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CRASH_HISTORY_MS)));
  Promise.race([at.history.flush(), deadline])
    .catch((flushErr: unknown) => at.logger.error({ err: flushErr }, 'card history still queued could not be written at exit'))
    .finally(() => {
      clearTimeout(timer);
      exitAfterLog(at.log, 1);
    });
}

/** The settings behind a failed listen, named (a bare `EADDRINUSE 0.0.0.0:8080` does not say which to change). */
function describeListenError(err: unknown, config: { host: string; port: number }): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return `PORT ${config.port} on HOST ${config.host} is already in use by another program: stop it or set PORT to a free port.`;
  if (code === 'EACCES') return `PORT ${config.port} needs privileges this process does not have: set PORT to 1024 or above.`;
  if (code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL' || code === 'EAI_AGAIN') return `HOST ${config.host} is not an address of this machine: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its addresses.`;
  return undefined;
}

main().catch((err: unknown) => {
  console.error('il6-cds: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
