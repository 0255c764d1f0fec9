/**
 * Structured JSON logging (pino). Nothing secret or identifying is logged: no request bodies, no access
 * tokens, no JWTs, no patient ids. Redaction below is a second line of defence for fields that should never
 * be passed to the logger in the first place.
 */
import { createHash, randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'access_token',
  '*.access_token',
  'fhirAuthorization',
  '*.fhirAuthorization',
  'token',
  '*.token',
  'jwt',
  '*.jwt',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'il6-cds' },
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { err: errorForLog },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** The service's log: stdout, written asynchronously as pino does by default, plus `settle()` for shutdown. */
export interface StdoutLog extends pino.DestinationStream {
  /**
   * Resolves when everything logged so far is written, or the reader is gone, or after `timeoutMs`; then the
   * process can exit without blocking on the log (lines a reader did not take by then are dropped).
   */
  settle(timeoutMs: number): Promise<void>;
}

/**
 * Why `settle()`: pino stops writing after an EPIPE (the reader of stdout is gone: `| head`, a dead log
 * collector), but only once an asynchronous write has reported it. Lines still queued at `process.exit` are
 * flushed synchronously, and sonic-boom retries a failing synchronous write for ever: a process whose first
 * line after the reader died is its shutdown line never exited.
 */
export function stdoutLog(): StdoutLog {
  const out = pino.destination({ dest: 1, sync: false });
  let idle = true; // nothing handed to `out` that is not yet written
  let readerGone = false;
  out.on('drain', () => (idle = true));
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err; // other write errors stay fatal, as without this listener
    readerGone = true;
  });
  return {
    write(line: string) {
      idle = false;
      out.write(line);
    },
    settle(timeoutMs) {
      if (idle || readerGone) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          out.off('drain', done);
          out.off('error', done);
          resolve();
        };
        const timer = setTimeout(() => {
          out.flushSync = () => {}; // a reader that takes nothing: drop the rest rather than block the exit
          done();
        }, timeoutMs);
        out.once('drain', done);
        out.once('error', done);
      });
    },
  };
}

/**
 * How an error is logged (every `{ err }` of the service): its type, code, message (cut at 500 characters),
 * stack frames and cause — not the other properties errors carry, such as a request body (body-parser), a
 * database row (`detail` of pg) or a response, which may hold patient data.
 */
export function errorForLog(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err).slice(0, 200) };
  const code = (err as { code?: unknown }).code;
  const out: Record<string, unknown> = { type: err.name, message: err.message.slice(0, 500) };
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  out.stack = (err.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');
  if (err.cause !== undefined && depth < 3) out.cause = errorForLog(err.cause, depth + 1);
  return out;
}

/** A logger that drops everything (tests that do not inspect logs). */
export const silentLogger: Logger = pino({ level: 'silent' });

// Per-process random salt: log lines of one process can be correlated, but the hash cannot be reversed by
// trying known ids, and it means nothing outside this process.
const salt = randomBytes(32);

/** A salted, truncated hash: lets a log reader correlate one patient's requests without learning the id. */
export function pseudonym(value: string): string {
  return createHash('sha256').update(salt).update(value).digest('hex').slice(0, 16);
}
