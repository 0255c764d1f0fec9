/**
 * Gathers the data of one hook call, key by key of the service's prefetch templates (CDS Hooks 2.0
 * §prefetch-template):
 *   - a resource or Bundle in `request.prefetch` → used as is, except that resources its template
 *     `_include`s and no key holds (an EHR that ignores `_include`: a MedicationRequest without its
 *     Medication, which may be an IL-6 blocker) are read from `fhirServer`;
 *   - `null` → "no data", never re-queried;
 *   - an OperationOutcome, or the key absent → fetched from `fhirServer` (with the EHR's access token when
 *     given), all keys in parallel under one deadline;
 *   - needed but obtainable neither way → 412 naming the key and why.
 */
import { setMaxListeners } from 'node:events';
import type { Bundle, FhirResource } from 'fhir/r4';
import type { CdsRequest } from '../cds-hooks/types';
import { preconditionFailed, type IssueInput } from '../outcomes';
import { completeIncludes, fetchQuery, FhirFetchError, missingIncludes, READ_CONCURRENCY, readAll, type FhirAccess } from './fhir-client';
import { renderTemplate } from './template';

export type KeySource = 'prefetch' | 'null' | 'fetched' | 'no-token-value';

export interface KeyReport {
  key: string;
  source: KeySource;
  resources: number;
}

export interface ResolvedData {
  /** Every resource of every key, de-duplicated by type and id. */
  resources: FhirResource[];
  keys: KeyReport[];
}

export interface ResolveOptions {
  timeoutMs: number;
  maxPages: number;
  maxResources: number;
  /** SSRF guard: may this `fhirServer` be contacted (and given the token)? Default: yes. */
  fhirServerAllowed?: (url: string) => boolean;
  /** Told when `fhirServer` was not contacted because the guard refused it. */
  onRefusedServer?: (url: string) => void;
  /** Told once per call that used the FHIR fallback (metrics): its duration and the errors of failed queries. */
  onFetched?: (report: FetchReport) => void;
}

/** One use of the FHIR fallback: how long it took (ms), and why queries failed (FhirFetchError mostly). */
export interface FetchReport {
  ms: number;
  errors: unknown[];
}

export async function resolvePrefetch(
  templates: Record<string, string>,
  request: CdsRequest,
  opts: ResolveOptions,
): Promise<ResolvedData> {
  const keys: KeyReport[] = [];
  const collected: FhirResource[][] = [];
  const toFetch: Wanted[] = [];
  const prefetched: { key: string; template: string; resources: FhirResource[] }[] = [];

  for (const [key, template] of Object.entries(templates)) {
    const given = request.prefetch?.[key];
    if (given === null) {
      keys.push({ key, source: 'null', resources: 0 });
      continue;
    }
    if (given !== undefined && given.resourceType !== 'OperationOutcome') {
      const resources = flatten(given);
      if (resources.length > opts.maxResources) {
        throw preconditionFailed([
          { code: 'too-costly', expression: `prefetch.${key}`, diagnostics: `Prefetch key "${key}" holds more than ${opts.maxResources} resources.` },
        ]);
      }
      const next = given.resourceType === 'Bundle' ? (given as Bundle).link?.find((l) => l.relation === 'next')?.url : undefined;
      if (next) {
        // A paginated prefetch: the rest is fetched like a missing key, or the call fails with 412.
        toFetch.push({ key, query: next, have: resources });
        continue;
      }
      prefetched.push({ key, template, resources });
      continue;
    }
    const rendered = renderTemplate(template, request.context);
    if ('unresolved' in rendered) {
      // The query cannot even be formed for this request (e.g. no encounterId): there is no such data.
      keys.push({ key, source: 'no-token-value', resources: 0 });
      continue;
    }
    toFetch.push({ key, query: rendered.query, ...(given ? { ehrOutcome: true } : {}) });
  }

  // A key is complete when what its `_include`s point to arrived under some key (EHRs put it anywhere).
  let held: Set<string> | undefined;
  for (const p of prefetched) {
    let references = missingIncludes(p.template, p.resources);
    if (references.length > 0) {
      held ??= new Set([...prefetched.map((x) => x.resources), ...toFetch.map((w) => w.have ?? [])].flat().map((r) => `${r.resourceType}/${r.id}`));
      references = references.filter((r) => !held!.has(r));
    }
    if (references.length > 0) {
      toFetch.push({ key: p.key, query: p.template, have: p.resources, references });
      continue;
    }
    keys.push({ key: p.key, source: 'prefetch', resources: p.resources.length });
    collected.push(p.resources);
  }

  if (toFetch.length > 0) {
    const fetched = await fetchMissing(toFetch, request, opts);
    for (const f of fetched) {
      keys.push({ key: f.key, source: 'fetched', resources: f.resources.length });
      collected.push(f.resources);
    }
  }
  return { resources: dedupe(collected.flat()), keys };
}

/**
 * A key to fetch: absent (`query` only), a paginated prefetch (`have` and the next page as `query`), or a
 * prefetch without resources its template includes (`have` and the `references` to read). `ehrOutcome`: the EHR
 * sent an OperationOutcome for the key (it could not run the query).
 */
interface Wanted {
  key: string;
  query: string;
  have?: FhirResource[];
  references?: string[];
  ehrOutcome?: true;
}

function whatIsMissing(w: Wanted): string {
  if (w.references) {
    const types = [...new Set(w.references.map((r) => r.split('/')[0]))].join(', ');
    return `refers to ${w.references.length} resource(s) (${types}) that its template includes (_include) but the prefetch does not hold`;
  }
  if (w.ehrOutcome) return 'holds an OperationOutcome instead of data (the EHR could not run its query)';
  return w.have ? 'has further pages that were not provided' : 'was not provided';
}

async function fetchMissing(wanted: Wanted[], request: CdsRequest, opts: ResolveOptions): Promise<{ key: string; resources: FhirResource[] }[]> {
  const why = (w: Wanted, reason: string): IssueInput => ({
    code: 'processing',
    expression: `prefetch.${w.key}`,
    diagnostics: `Prefetch key "${w.key}" ${whatIsMissing(w)} and ${reason}. Provide it in full in the request's prefetch, or give fhirServer (and fhirAuthorization) so the service can fetch it.`,
  });
  const server = request.fhirServer;
  if (!server) throw preconditionFailed(wanted.map((w) => why(w, 'no fhirServer was given')));
  if (opts.fhirServerAllowed && !opts.fhirServerAllowed(server)) {
    opts.onRefusedServer?.(server);
    throw preconditionFailed(wanted.map((w) => why(w, 'the fhirServer is not one this service may contact for this client')));
  }
  const access: FhirAccess = { baseUrl: server, accessToken: request.fhirAuthorization?.access_token };
  const controller = new AbortController();
  // Every request in flight listens for the deadline: the keys' queries plus up to READ_CONCURRENCY reads each.
  setMaxListeners(wanted.length * (READ_CONCURRENCY + 1) + 10, controller.signal);
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  const limits = { signal: controller.signal, maxPages: opts.maxPages, maxResources: opts.maxResources };
  const start = performance.now();
  try {
    const results = await Promise.allSettled(
      wanted.map(async (w) => {
        if (w.references) return { key: w.key, resources: [...w.have!, ...(await readAll(access, w.references, limits, w.have!.length))] };
        const found = [...(w.have ?? []), ...(await fetchQuery(access, w.query, limits))];
        return { key: w.key, resources: await completeIncludes(access, w.query, found, limits) };
      }),
    );
    opts.onFetched?.({ ms: performance.now() - start, errors: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])) });
    const failures: IssueInput[] = [];
    const ok: { key: string; resources: FhirResource[] }[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') ok.push(r.value);
      else failures.push(why(wanted[i]!, `fetching it failed: ${r.reason instanceof FhirFetchError ? r.reason.reason : 'unexpected error'}`));
    });
    if (failures.length > 0) throw preconditionFailed(failures);
    return ok;
  } finally {
    clearTimeout(timer);
    controller.abort(); // releases any straggling sockets of failed siblings
  }
}

function flatten(value: FhirResource): FhirResource[] {
  if (value.resourceType !== 'Bundle') return [value];
  return ((value as Bundle).entry ?? []).flatMap((e) =>
    e.resource && e.resource.resourceType !== 'OperationOutcome' ? [e.resource as FhirResource] : [],
  );
}

function dedupe(resources: FhirResource[]): FhirResource[] {
  const seen = new Map<string, FhirResource>();
  const anonymous: FhirResource[] = [];
  for (const r of resources) {
    if (!r.id) anonymous.push(r);
    else seen.set(`${r.resourceType}/${r.id}`, r);
  }
  return [...seen.values(), ...anonymous];
}
