/**
 * A small FHIR R4 REST client for the fallback path: the EHR did not prefetch a key, so the service runs the
 * query against `fhirServer` itself. Every call shares the hook's one AbortSignal (the overall deadline), pages
 * are followed only on the same server (the access token never goes anywhere else), and responses are size-
 * and count-capped so a misbehaving server cannot exhaust memory.
 */
import type { Bundle, FhirResource, Reference } from 'fhir/r4';
import { BodyTooLargeError } from '../http/read-capped';
import { CutOffError, httpGet, type HttpAnswer } from './http-get';

export interface FhirAccess {
  baseUrl: string;
  accessToken?: string;
}

export interface FetchLimits {
  signal: AbortSignal;
  maxPages: number;
  maxResources: number;
  /** Largest response body accepted, in bytes. */
  maxBytes?: number;
}

/** Thrown when a query cannot be answered; `reason` is safe to show to the client (no token, no body). */
export class FhirFetchError extends Error {
  constructor(
    readonly reason: string,
    readonly status?: number,
  ) {
    super(reason);
    this.name = 'FhirFetchError';
  }
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Runs one relative query (`Observation?patient=...` or `Patient/123`) and returns the resources it yields:
 * all pages of a search (matches and includes), or the one resource of a read. A read answered 404/410 yields
 * `[]` (no data).
 */
export async function fetchQuery(access: FhirAccess, query: string, limits: FetchLimits): Promise<FhirResource[]> {
  const base = access.baseUrl.replace(/\/+$/, '');
  // An absolute query is a next-page link of a prefetched Bundle: followed only on the same server.
  let url: string | undefined = /^https?:\/\//i.test(query) ? sameServer(query, base) : `${base}/${query.replace(/^\/+/, '')}`;
  const isRead = !query.includes('?') && /^[A-Z][A-Za-z]+\/[^/]+$/.test(query);
  const out: FhirResource[] = [];
  for (let page = 0; url; page++) {
    if (page >= limits.maxPages) {
      throw new FhirFetchError(`more than ${limits.maxPages} pages of results`);
    }
    const body = await getJson(url, access, limits, isRead);
    if (body === undefined) return out;
    if (body.resourceType === 'OperationOutcome') {
      throw new FhirFetchError('the FHIR server answered with an OperationOutcome');
    }
    if (body.resourceType !== 'Bundle' || isRead) {
      out.push(body);
      return out;
    }
    for (const entry of body.entry ?? []) if (entry.resource) out.push(entry.resource as FhirResource);
    if (out.length > limits.maxResources) throw new FhirFetchError(`more than ${limits.maxResources} resources`);
    url = nextLink(body, base);
  }
  return out;
}

/**
 * Servers that ignore `_include` (many do) leave referenced resources out. For each `_include=Type:param`
 * of the query, reads the resources that `param` (or `paramReference`, e.g. `medicationReference`) of the
 * matches points to and that the result does not already hold.
 */
export async function completeIncludes(
  access: FhirAccess,
  query: string,
  resources: FhirResource[],
  limits: FetchLimits,
): Promise<FhirResource[]> {
  const missing = missingIncludes(query, resources);
  if (missing.length === 0) return resources;
  return [...resources, ...(await readAll(access, missing, limits, resources.length))];
}

/** Reads in flight at once per `readAll`: a record of thousands of Medications must not flood the EHR's server. */
export const READ_CONCURRENCY = 8;

/**
 * Reads resources by relative reference (`Medication/123`), at most {@link READ_CONCURRENCY} at a time; a reference
 * the server does not know reads nothing. They count toward `maxResources` with the `already` held.
 */
export async function readAll(access: FhirAccess, references: readonly string[], limits: FetchLimits, already = 0): Promise<FhirResource[]> {
  if (already + references.length > limits.maxResources) throw new FhirFetchError(`more than ${limits.maxResources} resources`);
  const read: FhirResource[][] = [];
  let next = 0;
  const worker = async () => {
    while (next < references.length) {
      const i = next++;
      read[i] = await fetchQuery(access, references[i]!, limits);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, references.length) }, worker));
  return read.flat();
}

/**
 * The references, as `Type/id`, that the `_include`s of `query` ask for from `resources` and that `resources`
 * do not hold. Only relative references are followed: an absolute one may name another server, and contained
 * (`#id`) ones are inside their resource.
 */
export function missingIncludes(query: string, resources: readonly FhirResource[]): string[] {
  const params = new URLSearchParams(query.split('?')[1] ?? '');
  const includes = params.getAll('_include').map((v) => v.split(':'));
  if (includes.length === 0) return [];
  const held = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  const missing = new Set<string>();
  for (const [sourceType, param] of includes) {
    if (!sourceType || !param) continue;
    for (const r of resources) {
      if (r.resourceType !== sourceType) continue;
      const record = r as unknown as Record<string, unknown>;
      const ref = (record[param] ?? record[`${param}Reference`]) as Reference | undefined;
      const target = typeof ref?.reference === 'string' ? RELATIVE_REFERENCE.exec(ref.reference)?.[1] : undefined;
      if (target && !held.has(target)) missing.add(target);
    }
  }
  return [...missing];
}

/** `Type/id`, optionally versioned (`/_history/2`: the current version is read, which names the same drug). */
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

async function getJson(
  url: string,
  access: FhirAccess,
  limits: FetchLimits,
  isRead: boolean,
): Promise<FhirResource | undefined> {
  const headers: Record<string, string> = { accept: 'application/fhir+json, application/json' };
  if (access.accessToken) headers.authorization = `Bearer ${access.accessToken}`;
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  let res: HttpAnswer;
  try {
    res = await httpGet(url, { headers, signal: limits.signal, maxBytes, wantBody: (status) => status >= 200 && status < 300 });
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new FhirFetchError(`the FHIR server's answer is larger than ${maxBytes} bytes`);
    if (err instanceof CutOffError && !limits.signal.aborted) throw new FhirFetchError("the FHIR server's answer was cut off");
    throw limits.signal.aborted
      ? new FhirFetchError('the FHIR server did not answer before the deadline')
      : new FhirFetchError(`the FHIR server could not be reached (${networkReason(err)})`);
  }
  if (isRead && (res.status === 404 || res.status === 410)) return undefined;
  // A redirect is not followed (the token stays with fhirServer): it is answered like any other failure.
  if (res.status < 200 || res.status >= 300) throw new FhirFetchError(`the FHIR server answered HTTP ${res.status}`, res.status);
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new FhirFetchError('the FHIR server answered with something that is not JSON');
  }
  if (!body || typeof body !== 'object' || typeof (body as { resourceType?: unknown }).resourceType !== 'string') {
    throw new FhirFetchError('the FHIR server answered with JSON that is not a FHIR resource');
  }
  return body as FhirResource;
}

/** The `next` link, only if it stays on the same server (origin and base path) as the query. */
function nextLink(bundle: Bundle, base: string): string | undefined {
  const next = bundle.link?.find((l) => l.relation === 'next')?.url;
  return next ? sameServer(next, base) : undefined;
}

/** `link` resolved against `base`; throws unless it is on that server, so the token goes nowhere else. */
function sameServer(link: string, base: string): string {
  let resolved: URL;
  try {
    resolved = new URL(link, `${base}/`);
  } catch {
    throw new FhirFetchError('a next link is not a valid URL');
  }
  const baseUrl = new URL(`${base}/`);
  // The base itself counts too: HAPI's paging links are `<base>?_getpages=…` (no slash after the base path).
  const onBase = resolved.pathname.startsWith(baseUrl.pathname) || resolved.pathname === baseUrl.pathname.slice(0, -1);
  if (resolved.origin !== baseUrl.origin || !onBase) {
    throw new FhirFetchError('a next link points to another server than fhirServer; it was not followed');
  }
  return resolved.toString();
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed by the server',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate does not match the host name',
};

/** Words for the network failure, for the OperationOutcome a person reads (no error codes, no stack). */
function networkReason(err: unknown): string {
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  return NETWORK_REASONS[code ?? ''] ?? 'network error';
}
