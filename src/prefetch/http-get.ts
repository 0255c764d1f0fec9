/**
 * One GET for the FHIR fallback, on node:http(s) with keep-alive agents: about half the client CPU of
 * `fetch` (undici) for the same answers (a fallback hook makes seven requests of up to ~100 kB each). What it
 * guarantees, as the fetch-based client did:
 *   - the hook's AbortSignal ends it (request and body) at the overall deadline;
 *   - no redirect is followed (a 3xx is just a status: the access token goes nowhere else);
 *   - the body is capped, decoded size counted (`BodyTooLargeError`), gzip and deflate answers are decoded;
 *   - a keep-alive socket the server closed while idle (ECONNRESET on a reused socket) is retried once on a
 *     new connection, as undici does for idempotent requests.
 */
import http from 'node:http';
import https from 'node:https';
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import { BodyTooLargeError } from '../http/read-capped';

/** The connection closed before the whole answer arrived. */
export class CutOffError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('the answer was cut off');
    this.name = 'CutOffError';
  }
}

export interface HttpAnswer {
  status: number;
  /** The body as UTF-8 text (empty for a status `wantBody` declined). */
  text: string;
}

export interface GetOptions {
  headers: Record<string, string>;
  signal: AbortSignal;
  maxBytes: number;
  /** Read the body only for these answers (others are drained unread). */
  wantBody: (status: number) => boolean;
}

const AGENTS = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
} as const;

export async function httpGet(url: string, opts: GetOptions): Promise<HttpAnswer> {
  try {
    return await getOnce(url, opts);
  } catch (err) {
    if ((err as { retryable?: boolean }).retryable && !opts.signal.aborted) return getOnce(url, opts);
    throw err;
  }
}

function getOnce(url: string, opts: GetOptions): Promise<HttpAnswer> {
  const target = new URL(url);
  const protocol = target.protocol as keyof typeof AGENTS;
  if (!(protocol in AGENTS)) return Promise.reject(Object.assign(new Error(`unsupported protocol ${target.protocol}`), { code: 'ERR_INVALID_PROTOCOL' }));
  const lib = protocol === 'https:' ? https : http;
  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false;
    let res: http.IncomingMessage | undefined;
    let body: Readable | undefined;
    const finish = (err: Error | undefined, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        res?.destroy();
        if (body !== res) body?.destroy();
        reject(err);
      } else {
        resolve(answer!);
      }
    };
    const onAbort = () => finish(Object.assign(new Error('aborted at the deadline'), { name: 'AbortError' }));
    const req = lib.request(target, { method: 'GET', agent: AGENTS[protocol], headers: { ...opts.headers, 'accept-encoding': 'gzip, deflate' } });
    opts.signal.addEventListener('abort', onAbort, { once: true });
    if (opts.signal.aborted) onAbort();
    req.once('error', (err: NodeJS.ErrnoException) => {
      // The server closed an idle keep-alive socket as we reused it: nothing was answered, a new connection may be.
      if (req.reusedSocket && err.code === 'ECONNRESET' && !res) Object.assign(err, { retryable: true });
      finish(err);
    });
    req.once('response', (response) => {
      res = response;
      const status = response.statusCode ?? 0;
      if (!opts.wantBody(status)) {
        response.resume();
        finish(undefined, { status, text: '' });
        return;
      }
      const encoding = String(response.headers['content-encoding'] ?? '').trim().toLowerCase();
      if (!encoding && Number(response.headers['content-length']) > opts.maxBytes) return finish(new BodyTooLargeError(opts.maxBytes));
      if (encoding === 'gzip' || encoding === 'x-gzip') body = response.pipe(createGunzip());
      else if (encoding === 'deflate') body = response.pipe(createInflate());
      else if (!encoding || encoding === 'identity') body = response;
      else return finish(Object.assign(new Error(`unsupported content-encoding ${encoding}`), { code: 'ERR_CONTENT_ENCODING' }));
      const chunks: Buffer[] = [];
      let size = 0;
      body.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) finish(new BodyTooLargeError(opts.maxBytes));
        else chunks.push(chunk);
      });
      response.once('error', () => finish(new CutOffError()));
      if (body !== response) body.once('error', (err) => finish(err)); // undecodable gzip or deflate
      // The connection closed before the whole answer arrived.
      response.once('close', () => {
        if (!response.complete) finish(new CutOffError());
      });
      body.once('end', () => finish(undefined, { status, text: Buffer.concat(chunks, size).toString('utf8') }));
    });
    req.end();
  });
}
