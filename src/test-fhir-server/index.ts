/**
 * A real FHIR R4 server for tests, the CLI (`il6-cds fhir-server`) and benchmarks: medplum's
 * FhirRouter over an in-memory repository, served by node:http, with fault injection and a
 * record of every request received.
 */
import { badRequest, getStatus, isOk, isResourceType, OperationOutcomeError, operationOutcomeToString } from '@medplum/core';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type * as fhir4 from 'fhir/r4';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRouter, TestServerRepository } from './backend';
import { capabilityStatement } from './capability';
import { ensureFhirSchemaIndexed } from './schema';
import { completeSearchset, prepareSearch } from './search';

export interface RecordedRequest {
  method: string;
  /** The request target as received: path and query, e.g. `/fhir/Observation?patient=Patient/p1`. */
  url: string;
  authorization?: string;
}

/** `destroy` closes the socket without answering; `stallMs` delays the answer. */
export type Fault = { status: number } | { stallMs: number } | { destroy: true };

export interface TestFhirServer {
  /** e.g. `http://127.0.0.1:41234/fhir` (no trailing slash). */
  readonly baseUrl: string;
  /** Processes a transaction or batch Bundle, as if POSTed to the base URL (but not recorded, no faults, no token). Rejects if the whole Bundle fails. */
  load(bundle: fhir4.Bundle): Promise<fhir4.Bundle>;
  /** Every HTTP request received, in order. */
  readonly requests: RecordedRequest[];
  /** Every following request gets this fault until it is cleared with `undefined`. */
  setFault(f: Fault | undefined): void;
  /** Empties the repository and `requests`, and clears any fault. */
  reset(): Promise<void>;
  /** Closes the listener and every open socket, including ones with a stalled request. */
  stop(): Promise<void>;
}

export interface TestFhirServerOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** If set, every request except `GET /metadata` needs `Authorization: Bearer <requireToken>`. */
  requireToken?: string;
}

const BASE_PATH = '/fhir';
const MAX_BODY_BYTES = 20 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
type IssueCode = OperationOutcomeIssue['code'];
const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: IssueCode = 'processing',
  ) {
    super(message);
  }
}

export async function startTestFhirServer(opts: TestFhirServerOptions = {}): Promise<TestFhirServer> {
  ensureFhirSchemaIndexed();
  const host = opts.host ?? '127.0.0.1';
  const router = createRouter();
  const repo = new TestServerRepository();
  const config = { transactions: true }; // without it medplum processes a transaction like a batch
  const requests: RecordedRequest[] = [];
  let fault: Fault | undefined;
  let stopping: Promise<void> | undefined;
  const sockets = new Set<Socket>();
  const stalls = new Set<() => void>();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, 500, outcome(500, err instanceof Error ? err.message : String(err), 'exception'));
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}${BASE_PATH}`;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const authorization = req.headers.authorization;
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(authorization ? { authorization } : {}) });
    const injected = fault;
    if (injected && 'destroy' in injected) {
      req.socket.destroy();
      return;
    }
    if (injected && 'stallMs' in injected) {
      await stall(injected.stallMs);
      if (stopping || req.socket.destroyed) return; // stopped, or the client gave up
    }
    const body = await readBody(req);
    if (res.destroyed) return;
    if (injected && 'status' in injected) {
      const headers: Record<string, string> = injected.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {};
      send(res, injected.status, outcome(injected.status, `Injected fault: HTTP ${injected.status}`), headers);
      return;
    }
    try {
      if (body === undefined) {
        throw new HttpError(413, `Request body larger than ${MAX_BODY_BYTES} bytes`, 'too-costly');
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
        throw new HttpError(404, `Not found; the FHIR base is ${BASE_PATH}`, 'not-found');
      }
      const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+|\/+$/g, '');
      const method = req.method ?? '';
      const isMetadata = method === 'GET' && path === 'metadata';
      if (opts.requireToken && !isMetadata && !hasToken(authorization, opts.requireToken)) {
        send(res, 401, outcome(401, 'Missing or invalid bearer token', 'login'), { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      // Links point at the address the client used, which may differ from baseUrl (e.g. localhost).
      const base = req.headers.host ? `http://${req.headers.host}${BASE_PATH}` : baseUrl;
      if (isMetadata) {
        send(res, 200, capabilityStatement(base, Boolean(opts.requireToken)));
        return;
      }
      const [status, resource] = await route(method, path, url.searchParams, req.headers, body, base);
      const headers: Record<string, string> = {};
      const versionId = resource.meta?.versionId;
      if (versionId && resource.resourceType !== 'OperationOutcome') {
        headers.ETag = `W/"${versionId}"`;
        if (resource.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
        if (status === 201) headers.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${versionId}`;
      }
      send(res, status, resource, headers);
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, outcome(err.status, err.message, err.code));
      } else if (err instanceof OperationOutcomeError) {
        send(res, getStatus(err.outcome), err.outcome);
      } else {
        throw err;
      }
    }
  }

  async function route(
    method: string,
    path: string,
    query: URLSearchParams,
    headers: http.IncomingHttpHeaders,
    raw: Buffer,
    base: string,
  ): Promise<[number, Resource]> {
    if (!METHODS.has(method)) {
      throw new HttpError(405, `Method ${method} not supported`, 'not-supported');
    }
    const segments = path ? path.split('/') : [];
    const [type = '', second] = segments;
    if (type && !isResourceType(type)) {
      throw new HttpError(404, `Unknown resource type: ${type}`, 'not-found');
    }
    const contentType = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const isSearch = (method === 'GET' && segments.length === 1) || (method === 'POST' && second === '_search');
    if (isSearch) {
      const params = new URLSearchParams(query);
      if (raw.length > 0) {
        if (contentType !== 'application/x-www-form-urlencoded') {
          throw new HttpError(415, '_search needs an application/x-www-form-urlencoded body', 'not-supported');
        }
        new URLSearchParams(raw.toString('utf8')).forEach((value, key) => params.append(key, value));
      }
      return search(type, params, String(headers.prefer ?? ''), base);
    }

    let body: unknown;
    if (raw.length > 0) {
      if (contentType && !contentType.endsWith('json')) {
        throw new HttpError(415, `Unsupported Content-Type ${contentType}; send application/fhir+json`, 'not-supported');
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, 'Request body is not valid JSON', 'invalid');
      }
    }
    if (method === 'POST' && segments.length === 1 && isObject(body)) {
      delete body.id; // create: the server assigns the id
    }
    const [result, resource] = await router.handleRequest(fhirRequest(method, path + stringify(query), body, headers), repo);
    return [getStatus(result), resource ?? result];
  }

  async function search(
    resourceType: string,
    params: URLSearchParams,
    prefer: string,
    base: string,
  ): Promise<[number, Resource]> {
    const prepared = prepareSearch(resourceType, params);
    if (prepared.unsupported.length > 0 && /handling\s*=\s*strict/i.test(prefer)) {
      throw new OperationOutcomeError(badRequest(`Unsupported search parameters: ${prepared.unsupported.join(', ')}`));
    }
    const url = resourceType + stringify(prepared.forRouter);
    const [result, bundle] = await router.handleRequest(fhirRequest('GET', url, undefined, {}), repo);
    if (!isOk(result) || bundle?.resourceType !== 'Bundle') {
      return [getStatus(result), result];
    }
    completeSearchset(bundle, base, resourceType, prepared);
    return [200, bundle];
  }

  function fhirRequest(method: string, url: string, body: unknown, headers: http.IncomingHttpHeaders): FhirRequest {
    return { method: method as HttpMethod, url, pathname: '', body, params: {}, query: {}, headers, config };
  }

  function stall(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stalls.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stalls.add(done);
    });
  }

  return {
    baseUrl,
    requests,
    async load(bundle) {
      const request = fhirRequest('POST', '', structuredClone(bundle), {});
      const [result, response] = await router.handleRequest(request, repo);
      if (!isOk(result) || response?.resourceType !== 'Bundle') {
        throw new Error(`Loading the bundle failed: ${operationOutcomeToString(result)}`);
      }
      return response as unknown as fhir4.Bundle;
    },
    setFault(f) {
      fault = f;
    },
    async reset() {
      repo.clear();
      requests.length = 0;
      fault = undefined;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        for (const release of [...stalls]) release();
      });
      return stopping;
    },
  };
}

function hasToken(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  return match?.[1]?.trim() === token;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringify(params: URLSearchParams): string {
  const query = params.toString();
  return query ? `?${query}` : '';
}

function outcome(status: number, text: string, code?: IssueCode): OperationOutcome {
  code ??= status === 401 ? 'login' : status >= 500 ? 'exception' : 'processing';
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function send(res: http.ServerResponse, status: number, resource: Resource, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const body = JSON.stringify(resource);
  res.writeHead(status, { ...headers, 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The whole body, or undefined if it exceeds MAX_BODY_BYTES (then read to the end and discarded). */
function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('close', () => resolve(undefined)); // aborted by the client; no-op after 'end'
  });
}
