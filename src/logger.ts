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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
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
