/**
 * `il6-cds fire`: acts as an EHR for one patient. It reads the service's discovery entry, builds the prefetch
 * from its templates against a FHIR server (or, with `--no-prefetch`, leaves it out so the service fetches
 * the data itself from `fhirServer`), signs the client JWT with the local development issuer, calls the
 * service and prints the cards readably (or the raw response with `--json`).
 *
 * The development issuer is trusted only by a service in development or test mode without a
 * TRUSTED_ISSUERS_FILE; a production deployment answers 401, and `fire` says so.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Bundle, FhirResource } from 'fhir/r4';
import { signDevToken } from '../../auth';
import type { CdsRequest, CdsResponse, CdsServiceDefinition, DiscoveryResponse, PatientViewContext, PrefetchValue } from '../../cds-hooks/types';
import serviceDefinitionSchema from '../../cds-hooks/schemas/service-definition.schema.json';
import { completeIncludes, fetchQuery, FhirFetchError, type FhirAccess } from '../../prefetch/fhir-client';
import { renderTemplate } from '../../prefetch/template';
import { baseUrl, CliError, describeBody, networkProblem, processIo, type CliIo } from './io';
import { HAPI_SANDBOX } from './load';
import { formatCards } from './print-cards';

export const DEFAULT_SERVICE = 'il6-inflammation';
/** What discovery allows as a service id (its JSON Schema's pattern). */
const SERVICE_ID = new RegExp(serviceDefinitionSchema.properties.id.pattern);
export const DEFAULT_URL = 'http://localhost:8080';

/** Signs the client JWT for one call; `aud` is the exact URL called. Undefined: call without Authorization. */
export type SignToken = (aud: string) => Promise<string | undefined>;

/** The local development issuer (`.local/dev-issuer/`, created on first use). */
export const devSigner: SignToken = (aud) => signDevToken({ aud });

export interface FireOptions {
  patient: string;
  /** The FHIR server holding the patient (prefetch is read from it; the service gets it as `fhirServer`). */
  fhir: string;
  service?: string;
  /** The CDS service's base URL (discovery is `<url>/cds-services`). */
  url?: string;
  /**
   * The base URL the service checks JWT audiences against (its PUBLIC_BASE_URL), when `url` reaches it by
   * another address (a replica behind the proxy). Default: `url`.
   */
  aud?: string;
  /** false: send no prefetch, so the service fetches from `fhirServer` itself. Default true. */
  prefetch?: boolean;
  json?: boolean;
  /** Access token for the FHIR server: used to read the prefetch and handed to the service as fhirAuthorization. */
  token?: string;
  /** `context.userId` (default `Practitioner/il6cds-cli`). */
  user?: string;
  signToken?: SignToken;
  /** Per call to the service or the FHIR server (default 60 s). */
  timeoutMs?: number;
  color?: boolean;
  width?: number;
}

export interface FireResult {
  status: number;
  request: CdsRequest;
  /** The parsed response body (a CdsResponse when status is 200, else usually an OperationOutcome). */
  body: unknown;
  response?: CdsResponse;
}

export async function runFire(opts: FireOptions, io: CliIo = processIo): Promise<FireResult> {
  const url = baseUrl(opts.url ?? DEFAULT_URL, '--url');
  const audBase = opts.aud ? baseUrl(opts.aud, '--aud') : url;
  const fhir = baseUrl(opts.fhir, '--fhir');
  const serviceId = opts.service ?? DEFAULT_SERVICE;
  const signer = opts.signToken ?? devSigner;
  // The token names the URL the service believes it is called at: --url, or --aud in its place.
  const sign: SignToken = (target) => signer(`${audBase}${target.slice(url.length)}`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (!opts.patient || /[/?#\s]/.test(opts.patient)) throw new CliError(`--patient "${opts.patient}": give the Patient id only (no "Patient/" and no slashes)`);
  if (!SERVICE_ID.test(serviceId)) {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(serviceId) ? '; the service\'s base URL goes in --url' : '';
    throw new CliError(`--service "${serviceId}": give a CDS service id such as ${DEFAULT_SERVICE}${url}`);
  }

  const definition = await discover(url, serviceId, sign, timeoutMs);
  const context: PatientViewContext = { userId: opts.user ?? 'Practitioner/il6cds-cli', patientId: opts.patient };
  const request: CdsRequest = {
    hook: definition.hook,
    hookInstance: randomUUID(),
    fhirServer: fhir,
    context,
  };
  if (opts.token) {
    request.fhirAuthorization = { access_token: opts.token, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds-cli', patient: opts.patient };
  }
  if (opts.prefetch !== false && definition.prefetch) {
    request.prefetch = await prefetchFrom(fhir, opts.token, definition.prefetch, context, timeoutMs);
  }
  // An id the FHIR server does not have would get a healthy-looking "No cards" from the service.
  if ((await patientFound(fhir, opts.token, definition.prefetch, request.prefetch, context, timeoutMs)) === false) {
    throw new CliError(
      `patient "${opts.patient}" was not found on ${fhir} (it has no Patient/${opts.patient}): check --patient and --fhir; ` +
        '`il6-cds load` prints the ids it loaded, with its --prefix in front',
    );
  }

  const target = `${url}/cds-services/${encodeURIComponent(serviceId)}`;
  const { status, text } = await call(target, sign, timeoutMs, { method: 'POST', body: JSON.stringify(request) });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliError(`${target} answered HTTP ${status} with something that is not JSON: ${text.slice(0, 200)}`);
  }
  const result: FireResult = { status, request, body, ...(status === 200 ? { response: body as CdsResponse } : {}) };
  if (opts.json) io.out(JSON.stringify(body, null, 2));
  if (status !== 200) {
    const hint = status === 412 ? ' (the service could not get the data it needs; see above)' : '';
    throw new CliError(`${serviceId} answered HTTP ${status}: ${describeBody(text)}${hint}`);
  }
  if (!opts.json) {
    const cards = result.response!.cards ?? [];
    const how = request.prefetch ? `prefetch read from ${fhir}` : `no prefetch: the service fetched from ${fhir}`;
    io.out(`${serviceId} · patient ${opts.patient} · ${cards.length} card${cards.length === 1 ? '' : 's'} (${how})\n`);
    io.out(formatCards(result.response!, { color: opts.color ?? io.isTty, width: opts.width }));
  }
  return result;
}

async function discover(url: string, serviceId: string, sign: SignToken, timeoutMs: number): Promise<CdsServiceDefinition> {
  const target = `${url}/cds-services`;
  const { status, text } = await call(target, sign, timeoutMs, { method: 'GET' });
  if (status !== 200) throw new CliError(`discovery (GET ${target}) answered HTTP ${status}: ${describeBody(text)}`);
  let doc: DiscoveryResponse;
  try {
    doc = JSON.parse(text) as DiscoveryResponse;
  } catch {
    throw new CliError(`discovery (GET ${target}) did not answer JSON: is ${url} a CDS Hooks service?`);
  }
  const found = doc.services?.find((s) => s.id === serviceId);
  if (!found) throw new CliError(`${url} offers no service "${serviceId}"; it offers: ${(doc.services ?? []).map((s) => s.id).join(', ') || 'none'}`);
  return found;
}

async function call(target: string, sign: SignToken, timeoutMs: number, init: { method: string; body?: string }): Promise<{ status: number; text: string }> {
  const jwt = await sign(target);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (jwt) headers.authorization = `Bearer ${jwt}`;
  let res: Response;
  try {
    res = await fetch(target, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new CliError(`cannot reach the CDS service: ${networkProblem(err, target)}`);
  }
  const text = await res.text();
  if (res.status === 401) {
    throw new CliError(
      `${target} refused the client JWT (HTTP 401). fire signs with the local development issuer (.local/dev-issuer/), ` +
        'which a service trusts only in development or test mode without TRUSTED_ISSUERS_FILE (or run the service with AUTH=disabled). ' +
        'If the service has PUBLIC_BASE_URL set, the token\'s audience must match it: pass --aud <PUBLIC_BASE_URL>.',
    );
  }
  return { status: res.status, text };
}

/**
 * Whether the FHIR server has the patient: the prefetch's read of it when there is one, else a read of its own.
 * Undefined when that read fails for another reason (with --no-prefetch the service may still reach the server;
 * it reports its own problems).
 */
async function patientFound(
  fhir: string,
  token: string | undefined,
  templates: Record<string, string> | undefined,
  prefetch: Record<string, PrefetchValue> | undefined,
  context: PatientViewContext,
  timeoutMs: number,
): Promise<boolean | undefined> {
  const read = renderTemplate('Patient/{{context.patientId}}', context);
  if (!('query' in read)) return undefined;
  const key = Object.keys(templates ?? {}).find((k) => {
    const rendered = renderTemplate(templates![k]!, context);
    return 'query' in rendered && rendered.query === read.query;
  });
  if (prefetch && key !== undefined && key in prefetch) return prefetch[key] !== null;
  const access: FhirAccess = { baseUrl: fhir, ...(token ? { accessToken: token } : {}) };
  try {
    return (await fetchQuery(access, read.query, { signal: AbortSignal.timeout(timeoutMs), maxPages: 1, maxResources: 1 })).length > 0;
  } catch {
    return undefined;
  }
}

/**
 * The prefetch an EHR would send: each template rendered for this context and run against the FHIR server,
 * every page followed and `_include`d resources completed; a read that finds nothing is `null`.
 */
export async function prefetchFrom(
  fhir: string,
  token: string | undefined,
  templates: Record<string, string>,
  context: PatientViewContext,
  timeoutMs = 60_000,
): Promise<Record<string, PrefetchValue>> {
  const access: FhirAccess = { baseUrl: fhir, ...(token ? { accessToken: token } : {}) };
  const limits = { signal: AbortSignal.timeout(timeoutMs), maxPages: 100, maxResources: 50_000 };
  const out: Record<string, PrefetchValue> = {};
  await Promise.all(
    Object.entries(templates).map(async ([key, template]) => {
      const rendered = renderTemplate(template, context);
      if ('unresolved' in rendered) return; // no value for a token: an EHR leaves the key out
      const query = rendered.query;
      let resources: FhirResource[];
      try {
        resources = await fetchQuery(access, query, limits);
        if (query.includes('?')) resources = await completeIncludes(access, query, resources, limits);
      } catch (err) {
        const why = err instanceof FhirFetchError ? err.reason : networkProblem(err, fhir);
        throw new CliError(`prefetch key "${key}" (${query.split('?')[0]}): ${why}${err instanceof FhirFetchError && (err.status === 401 || err.status === 403) ? ' (does it need --token?)' : ''}`);
      }
      if (!query.includes('?')) {
        out[key] = resources[0] ?? null;
        return;
      }
      const type = query.split('?')[0]!.split('/')[0];
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: resources.filter((r) => r.resourceType === type).length,
        entry: resources.map((resource) => ({
          fullUrl: `${fhir}/${resource.resourceType}/${resource.id}`,
          resource,
          search: { mode: resource.resourceType === type ? 'match' : 'include' },
        })),
      };
      out[key] = bundle;
    }),
  );
  // Keys in template order, as an EHR would list them.
  return Object.fromEntries(Object.keys(templates).filter((k) => k in out).map((k) => [k, out[k]!]));
}

interface FireFlags {
  patient: string;
  fhir: string;
  service: string;
  url: string;
  aud?: string;
  prefetch: boolean;
  json?: boolean;
  token?: string;
  user?: string;
}

export function registerFire(program: Command): void {
  program
    .command('fire')
    .description('act as an EHR: call a CDS service for one patient of a FHIR server (prefetch built from the discovery templates, JWT from the local development issuer) and print the cards')
    .requiredOption('--patient <id>', 'Patient id on the FHIR server (as printed by `il6-cds load`)')
    .option('--fhir <base>', 'FHIR R4 base URL holding the patient', HAPI_SANDBOX)
    .option('--service <id>', 'CDS service id', DEFAULT_SERVICE)
    .option('--url <service>', 'base URL of the CDS service', DEFAULT_URL)
    .option('--aud <base>', "the service's PUBLIC_BASE_URL, when --url reaches it by another address (JWT audience)")
    .option('--no-prefetch', 'send no prefetch: the service fetches the data from the FHIR server itself')
    .option('--token <token>', 'access token for the FHIR server (also handed to the service as fhirAuthorization)')
    .option('--user <ref>', 'context.userId', 'Practitioner/il6cds-cli')
    .option('--json', 'print the raw response instead of the readable cards')
    .action(async (flags: FireFlags) => {
      await runFire({ ...flags, width: Math.min(process.stdout.columns || 100, 120) });
    });
}
