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
