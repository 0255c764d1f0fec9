/**
 * HTTP to the target CDS service. Every exchange is kept (item 23 looks at every non-2xx body the run produced),
 * and a network failure is an exchange with status 0 and the reason, never an exception, so a check can report
 * what it saw.
 */

export interface Exchange {
  /** What the suite was doing, e.g. "item 42: missing hook". */
  label: string;
  method: string;
  url: string;
  /** 0: no answer (see `error`). */
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, if it was JSON. */
  json?: unknown;
  ms: number;
  error?: string;
}

export interface RequestOptions {
  label: string;
  /** A bearer token for `Authorization`. */
  token?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export class TargetClient {
  readonly exchanges: Exchange[] = [];

  constructor(private readonly timeoutMs: number) {}

  async request(method: string, url: string, opts: RequestOptions): Promise<Exchange> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const start = performance.now();
    let exchange: Exchange;
    try {
      const res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
      const text = await res.text();
      exchange = { label: opts.label, method, url, status: res.status, headers: res.headers, text, ms: performance.now() - start };
      try {
        exchange.json = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON; `text` says what it was
      }
    } catch (err) {
      exchange = { label: opts.label, method, url, status: 0, headers: new Headers(), text: '', ms: performance.now() - start, error: networkWords(err) };
    }
    this.exchanges.push(exchange);
    return exchange;
  }
}

function networkWords(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'no answer in time';
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** "HTTP 400: <the start of the body>" (or the network failure), for failure details. */
export function saw(x: Exchange): string {
  if (x.status === 0) return `no answer (${x.error})`;
  const body = x.text.replace(/\s+/g, ' ').trim();
  return `HTTP ${x.status}${body ? `: ${body.length > 160 ? `${body.slice(0, 160)}…` : body}` : ' (empty body)'}`;
}

/** Whether the body is a FHIR OperationOutcome with at least one issue. */
export function isOperationOutcome(body: unknown): boolean {
  const oo = body as { resourceType?: unknown; issue?: unknown } | null;
  return !!oo && typeof oo === 'object' && oo.resourceType === 'OperationOutcome' && Array.isArray(oo.issue) && oo.issue.length > 0;
}

export function isJsonContentType(x: Exchange): boolean {
  return /^application\/([\w.+-]+\+)?json\b/i.test(x.headers.get('content-type') ?? '');
}
