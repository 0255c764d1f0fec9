/**
 * The suite's side of FHIR: prefetch templates resolved as an EHR would (CDS Hooks 2.0 tokens, reads and searches
 * against a FHIR server), the suite's own recording FHIR server (the project's in-memory test server, loaded with
 * fixture patients: it sees what the target fetches and can be made to fail), and small recording listeners for
 * the checks that prove something is *never* contacted (a JWKS at a foreign `jku`, an SSRF decoy).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Bundle, BundleEntry, FhirResource } from 'fhir/r4';
import { listFixtures } from '../fixtures/catalog';
import { rebase } from '../fixtures/rebase';
import { startTestFhirServer, type TestFhirServer } from '../test-fhir-server';

// ---------------------------------------------------------------------------------------------------------------
// Prefetch tokens (CDS Hooks 2.0 §prefetch-tokens), written here from the spec, not taken from the service.

/** patient-view context fields that are prefetch tokens. */
export const CONTEXT_TOKENS = ['userId', 'patientId', 'encounterId'];
/** The user tokens and the resource type `context.userId` must have for each. */
export const USER_TOKENS: Record<string, string> = {
  userPractitionerId: 'Practitioner',
  userPractitionerRoleId: 'PractitionerRole',
  userPatientId: 'Patient',
  userRelatedPersonId: 'RelatedPerson',
};

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function templateTokens(template: string): string[] {
  return [...template.matchAll(TOKEN)].map((m) => m[1] ?? '');
}

/** Why `token` may not appear in a CDS Hooks 2.0 patient-view template, or undefined when it may. */
export function tokenProblem(token: string): string | undefined {
  const ctx = /^context\.(.+)$/.exec(token);
  if (ctx) return CONTEXT_TOKENS.includes(ctx[1]!) ? undefined : `{{${token}}} is not a patient-view prefetch token`;
  if (token in USER_TOKENS) return undefined;
  return `{{${token}}} is not a CDS Hooks 2.0 prefetch token`;
}

export interface HookContext {
  userId: string;
  patientId: string;
  encounterId?: string;
}

/** The query for `context`, or why it cannot be formed (a token without a value here: the EHR omits the key). */
export function renderTemplate(template: string, context: HookContext): { query: string } | { unresolved: string } {
  let unresolved: string | undefined;
  const query = template.replace(TOKEN, (_all, token: string) => {
    let value: string | undefined;
    const ctx = /^context\.(.+)$/.exec(token);
    if (ctx && CONTEXT_TOKENS.includes(ctx[1]!)) value = (context as unknown as Record<string, string | undefined>)[ctx[1]!];
    else if (token in USER_TOKENS) {
      const [type, id] = context.userId.split('/');
      value = type === USER_TOKENS[token] ? id : undefined;
    }
    if (!value) {
      unresolved ??= token;
      return '';
    }
    return encodeURIComponent(value);
  });
  return unresolved === undefined ? { query } : { unresolved };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading prefetch from a FHIR server.

export class FhirReadError extends Error {}

async function getJson(url: string, accessToken: string | undefined, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    throw new FhirReadError(`${new URL(url).origin}: ${cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

const MAX_PAGES = 50;

/** Runs one rendered query: a read gives the resource or null (404/410), a search one searchset Bundle with every page. */
export async function runQuery(fhirBase: string, query: string, accessToken: string | undefined, timeoutMs: number): Promise<FhirResource | null> {
  const url = `${fhirBase}/${query}`;
  const first = await getJson(url, accessToken, timeoutMs);
  if (!query.includes('?')) {
    if (first.status === 404 || first.status === 410) return null;
    if (first.status !== 200 || !first.body || typeof first.body !== 'object') throw new FhirReadError(`GET ${query.split('?')[0]} answered HTTP ${first.status}`);
    return first.body as FhirResource;
  }
  if (first.status !== 200 || (first.body as { resourceType?: string } | undefined)?.resourceType !== 'Bundle') {
    throw new FhirReadError(`search ${query.split('?')[0]} answered HTTP ${first.status}`);
  }
  const entries: BundleEntry[] = [];
  let page = first.body as Bundle;
  let total = page.total;
  for (let n = 0; ; n++) {
    entries.push(...(page.entry ?? []).filter((e) => e.resource));
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    if (!next || n >= MAX_PAGES || new URL(next, url).origin !== new URL(url).origin) break;
    const more = await getJson(new URL(next, url).href, accessToken, timeoutMs);
    if (more.status !== 200) throw new FhirReadError(`next page of ${query.split('?')[0]} answered HTTP ${more.status}`);
    page = more.body as Bundle;
    total ??= page.total;
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset' };
  if (typeof total === 'number') bundle.total = total;
  // No empty arrays in CDS Hooks JSON: an empty result is a Bundle without entries.
  if (entries.length > 0) bundle.entry = entries.map((e) => ({ ...(e.fullUrl ? { fullUrl: e.fullUrl } : {}), resource: e.resource!, ...(e.search ? { search: e.search } : {}) }));
  return bundle;
}

export interface BuiltPrefetch {
  prefetch: Record<string, FhirResource | null>;
  /** Keys left out, with why (a token without a value, a token not allowed). */
  omitted: Record<string, string>;
}

/** The prefetch an EHR would send for `context`: every template with a value for its tokens, read from `fhirBase`. */
export async function buildPrefetch(fhirBase: string, templates: Record<string, unknown>, context: HookContext, accessToken: string | undefined, timeoutMs: number): Promise<BuiltPrefetch> {
  const out: BuiltPrefetch = { prefetch: {}, omitted: {} };
  const entries = await Promise.all(
    Object.entries(templates).map(async ([key, template]): Promise<[string, FhirResource | null | string]> => {
      if (typeof template !== 'string') return [key, 'the template is not a string'];
      const bad = templateTokens(template).map(tokenProblem).find(Boolean);
      if (bad) return [key, bad];
      const rendered = renderTemplate(template, context);
      if ('unresolved' in rendered) return [key, `{{${rendered.unresolved}}} has no value in this request`];
      try {
        return [key, await runQuery(fhirBase, rendered.query, accessToken, timeoutMs)];
      } catch (err) {
        throw new FhirReadError(`prefetch "${key}" from ${fhirBase}: ${(err as Error).message}`);
      }
    }),
  );
  for (const [key, value] of entries) {
    if (typeof value === 'string') out.omitted[key] = value;
    else out.prefetch[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The suite's own FHIR server.

/**
 * Fixture patients loaded into the suite's FHIR server: together they produce cards of several kinds
 * (suggestions with actions, override reasons) from the project's service, and are ordinary patients with
 * Observations, Conditions and medications for any other service.
 */
export const DEFAULT_FIXTURES = ['combo-persistent-rising-trend', 'measure-hscrp-5-4-no-il6', 'interference-tocilizumab-active-request'];

export interface SuiteFhirServer {
  server: TestFhirServer;
  /** The loaded fixture patients' ids, in DEFAULT_FIXTURES order. */
  patients: string[];
}

export async function startSuiteFhirServer(host: string, port: number): Promise<SuiteFhirServer> {
  const server = await startTestFhirServer({ host, port });
  const fixtures = new Map(listFixtures().map((f) => [f.slug, f]));
  const patients: string[] = [];
  try {
    for (const slug of DEFAULT_FIXTURES) {
      const f = fixtures.get(slug);
      if (!f) continue;
      await server.load(rebase(f.bundle));
      patients.push(f.expected.patient);
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { server, patients };
}

// ---------------------------------------------------------------------------------------------------------------
// Recording listeners.

export interface RecordingServer {
  url: string;
  /** Every request received: method, path and whether it carried Authorization. */
  requests: { method: string; url: string; authorization?: string }[];
  close(): Promise<void>;
}

/** A listener that records every request and answers each with `respond` (default 404). */
export async function startRecordingServer(host: string, respond?: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<RecordingServer> {
  const requests: RecordingServer['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    req.resume();
    if (respond) respond(req, res);
    else res.writeHead(404, { 'content-type': 'application/fhir+json' }).end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A non-loopback IPv4 address of this machine (loopback FHIR servers are often allowed in development), if any. */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
  }
  return undefined;
}
