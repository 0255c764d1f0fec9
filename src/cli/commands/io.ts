/**
 * Shared plumbing of the CLI commands: where output goes (so tests can run a command in-process and read what
 * it printed), errors a person can act on, and small HTTP helpers.
 */

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether `out` is a terminal (colours). */
  isTty?: boolean;
}

export const processIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  isTty: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
};

/** A failure the command reports in one message (no stack trace); the CLI exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Base URL without trailing slashes; throws a CliError unless it is an absolute http(s) URL. */
export function baseUrl(value: string, option: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CliError(`${option} "${value}" is not an absolute URL (e.g. https://hapi.fhir.org/baseR4)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`${option} "${value}" must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** Words for a network failure of fetch() (undici puts the system error code on `cause`). */
export function networkProblem(err: unknown, url: string): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { name?: string }).name;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is it running?)',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
    TimeoutError: 'no answer in time',
    AbortError: 'no answer in time',
    UND_ERR_SOCKET: 'the connection was closed',
  };
  let origin = url;
  try {
    origin = new URL(url).origin;
  } catch {
    // keep as is
  }
  return `${origin}: ${words[code ?? ''] ?? cause?.message ?? (err instanceof Error ? err.message : String(err))}`;
}

/** The diagnostics of an OperationOutcome body (or the start of any other body). */
export function describeBody(text: string): string {
  try {
    const body = JSON.parse(text) as { resourceType?: string; issue?: { diagnostics?: string; code?: string; expression?: string[] }[] };
    if (body.resourceType === 'OperationOutcome' && Array.isArray(body.issue)) {
      return body.issue
        .slice(0, 5)
        .map((i) => `${i.diagnostics ?? i.code ?? 'error'}${i.expression?.length ? ` (${i.expression.join(', ')})` : ''}`)
        .join('; ');
    }
  } catch {
    // not JSON
  }
  return text.replace(/\s+/g, ' ').slice(0, 300);
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order; the first failure rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
