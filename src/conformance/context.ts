/**
 * What the checks share during one run: the target's URLs and how tokens name them, the HTTP client, the signer,
 * the FHIR servers, and prerequisites every section needs (discovery, the services under test, the valid calls
 * whose responses the card-shape and feedback checks read), each computed once, on first use, so `--only` runs
 * just what the chosen items need.
 */
import { randomUUID } from 'node:crypto';
import type { FhirResource } from 'fhir/r4';
import { buildPrefetch, startSuiteFhirServer, type BuiltPrefetch, type HookContext, type SuiteFhirServer } from './fhir';
import { TargetClient, type Exchange } from './http';
import type { Signer, TokenOptions } from './tokens';
import type { Outcome } from './types';

export interface ResolvedOptions {
  /** The discovery URL, `<base>/cds-services`. */
  url: string;
  /** Service ids to test; empty: every patient-view service discovery lists. */
  services: string[];
  /** A FHIR server holding the patients; undefined: the suite's own server with fixture patients. */
  fhir?: string;
  /** Access token for reading `fhir`. */
  fhirToken?: string;
  patients: string[];
  signer: Signer;
  /** The base URL the target checks JWT audiences against (its public URL), when `url` reaches it by another address. */
  audBase?: string;
  fhirHost: string;
  fhirPort: number;
  latencyCalls: number;
  latencyBudgetMs: number;
  timeoutMs: number;
  /** How long to watch for a request that must never come, after the target answered. */
  settleMs: number;
  userId: string;
}

export interface ServiceUnderTest {
  id: string;
  hook: string;
  /** `prefetch` of the discovery entry, when it is an object. */
  prefetch: Record<string, unknown>;
  url: string;
  feedbackUrl: string;
}

export interface DiscoveryState {
  exchange: Exchange;
  /** The parsed body when it is a JSON object. */
  doc?: Record<string, unknown>;
  /** `doc.services` when it is an array. */
  entries?: unknown[];
}

export interface Call {
  patient: string;
  request: Record<string, unknown>;
  exchange: Exchange;
}

/** Thrown by a prerequisite the check cannot do without: the check is reported SKIP with this reason. */
export class Unavailable extends Error {}

export class SuiteContext {
  readonly http: TargetClient;
  /** `<base>` of `<base>/cds-services`. */
  readonly base: string;
  private readonly memo = new Map<string, Promise<unknown>>();
  /** Closed when the run ends. */
  readonly cleanups: (() => Promise<void>)[] = [];

  constructor(readonly opts: ResolvedOptions) {
    this.http = new TargetClient(opts.timeoutMs);
    this.base = opts.url.replace(/\/cds-services$/, '');
  }

  get discoveryUrl(): string {
    return this.opts.url;
  }

  /** Computes `fn` once per key. A failure is remembered too. */
  once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = fn();
      this.memo.set(key, p);
    }
    return p;
  }

  /** The `aud` for a URL of the target: the URL itself, or with `--aud-base` in place of the base. */
  aud(url: string): string {
    return this.opts.audBase && url.startsWith(this.base) ? `${this.opts.audBase}${url.slice(this.base.length)}` : url;
  }

  /** A fresh valid token for `url` (new `jti` each time). */
  token(url: string, opts?: TokenOptions): Promise<string> {
    return this.opts.signer.sign(this.aud(url), opts);
  }

  /** A call with a fresh valid token (unless `token` is given: a string is sent as is, null sends none). */
  async call(method: string, url: string, opts: { label: string; body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<Exchange> {
    const token = opts.token === null ? undefined : (opts.token ?? (await this.token(url)));
    return this.http.request(method, url, { label: opts.label, body: opts.body, headers: opts.headers, ...(token !== undefined ? { token } : {}) });
  }

  serviceUrl(id: string): string {
    return `${this.discoveryUrl}/${encodeURIComponent(id)}`;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Prerequisites.

  /** GET /cds-services with a valid token. */
  discovery(): Promise<DiscoveryState> {
    return this.once('discovery', async () => {
      const exchange = await this.call('GET', this.discoveryUrl, { label: 'discovery' });
      const state: DiscoveryState = { exchange };
      const j = exchange.json;
      if (exchange.status === 200 && j && typeof j === 'object' && !Array.isArray(j)) {
        state.doc = j as Record<string, unknown>;
        const services = state.doc.services;
        if (Array.isArray(services)) state.entries = services;
      }
      return state;
    });
  }

  /** The services under test: those named with --service, else every patient-view service in discovery. */
  services(): Promise<ServiceUnderTest[]> {
    return this.once('services', async () => {
      const d = await this.discovery();
      if (!d.entries) throw new Unavailable(`discovery did not succeed (item 1/2: ${d.exchange.status === 0 ? d.exchange.error : `HTTP ${d.exchange.status}`})`);
      const entries = d.entries.filter((e): e is Record<string, unknown> => !!e && typeof e === 'object' && typeof (e as { id?: unknown }).id === 'string');
      let chosen: Record<string, unknown>[];
      if (this.opts.services.length > 0) {
        chosen = [];
        for (const id of this.opts.services) {
          const e = entries.find((x) => x.id === id);
          if (!e) throw new Unavailable(`discovery lists no service "${id}" (it lists: ${entries.map((x) => x.id).join(', ') || 'none'})`);
          chosen.push(e);
        }
      } else {
        chosen = entries.filter((e) => e.hook === 'patient-view');
        if (chosen.length === 0) throw new Unavailable('discovery lists no patient-view service (item 5)');
      }
      return chosen.map((e) => {
        const id = e.id as string;
        const prefetch = e.prefetch && typeof e.prefetch === 'object' && !Array.isArray(e.prefetch) ? (e.prefetch as Record<string, unknown>) : {};
        return { id, hook: typeof e.hook === 'string' ? e.hook : 'patient-view', prefetch, url: this.serviceUrl(id), feedbackUrl: `${this.serviceUrl(id)}/feedback` };
      });
    });
  }

  /** The suite's own recording FHIR server, loaded with the fixture patients (started on first use). */
  suiteFhir(): Promise<SuiteFhirServer> {
    return this.once('suite-fhir', async () => {
      const s = await startSuiteFhirServer(this.opts.fhirHost, this.opts.fhirPort);
      this.cleanups.push(() => s.server.stop());
      return s;
    });
  }

  /** Where the valid calls' prefetch is read from, and their patients. */
  async data(): Promise<{ fhir: string; token?: string; patients: string[] }> {
    if (this.opts.fhir) return { fhir: this.opts.fhir, ...(this.opts.fhirToken ? { token: this.opts.fhirToken } : {}), patients: this.opts.patients };
    const s = await this.suiteFhir();
    const patients = this.opts.patients.length > 0 ? this.opts.patients : s.patients;
    return { fhir: s.server.baseUrl, patients };
  }

  /** A patient-view context for `patientId`. */
  context(patientId: string, extra: Partial<HookContext> = {}): HookContext {
    return { userId: this.opts.userId, patientId, ...extra };
  }

  /** The full prefetch for one patient of the data server (every template with values for its tokens). */
  prefetchFor(svc: ServiceUnderTest, context: HookContext, from?: { fhir: string; token?: string }): Promise<BuiltPrefetch> {
    const key = `prefetch:${svc.id}:${from?.fhir ?? 'data'}:${JSON.stringify(context)}`;
    return this.once(key, async () => {
      const src = from ?? (await this.data());
      return buildPrefetch(src.fhir, svc.prefetch, context, src.token, this.opts.timeoutMs);
    });
  }

  /** A request body: hook, a new UUID hookInstance, the context, and `prefetch` when given. */
  request(svc: ServiceUnderTest, context: HookContext, prefetch?: Record<string, FhirResource | null>, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { hook: svc.hook, hookInstance: randomUUID(), context: { ...context }, ...(prefetch ? { prefetch } : {}), ...extra };
  }

  /** One valid call per patient, with the full prefetch: the responses item 13 judges and the card-shape items read. */
  mainCalls(svc: ServiceUnderTest): Promise<Call[]> {
    return this.once(`main:${svc.id}`, () => this.validCalls(svc, 'valid request'));
  }

  /** The same requests again (new hookInstance): item 38 compares uuids across calls, item 18 needs a baseline. */
  secondCalls(svc: ServiceUnderTest): Promise<Call[]> {
    return this.once(`second:${svc.id}`, async () => {
      await this.mainCalls(svc);
      return this.validCalls(svc, 'valid request, again');
    });
  }

  private async validCalls(svc: ServiceUnderTest, label: string): Promise<Call[]> {
    const { patients } = await this.data();
    if (patients.length === 0) throw new Unavailable('no patient to call the service for (give --patient)');
    const calls: Call[] = [];
    for (const patient of patients) {
      const context = this.context(patient);
      const { prefetch } = await this.prefetchFor(svc, context);
      const request = this.request(svc, context, prefetch);
      calls.push({ patient, request, exchange: await this.call('POST', svc.url, { label: `${label} (${patient})`, body: request }) });
    }
    return calls;
  }

  /** Every 200 response body of the valid calls so far (main and second round), for the card-shape items. */
  async responses(svc: ServiceUnderTest): Promise<{ where: string; body: Record<string, unknown> }[]> {
    const calls = [...(await this.mainCalls(svc)), ...(await this.secondCalls(svc))];
    return calls
      .filter((c) => c.exchange.status === 200 && c.exchange.json && typeof c.exchange.json === 'object' && !Array.isArray(c.exchange.json))
      .map((c) => ({ where: `patient ${c.patient}`, body: c.exchange.json as Record<string, unknown> }));
  }

  /** Without a token: does the target require one? (401/403 on discovery.) */
  authRequired(): Promise<{ required: boolean; exchange: Exchange }> {
    return this.once('auth-probe', async () => {
      const exchange = await this.call('GET', this.discoveryUrl, { label: 'item 45: discovery without Authorization', token: null });
      return { required: exchange.status === 401 || exchange.status === 403, exchange };
    });
  }

  /** Does the target accept the suite's tokens? (Discovery with a valid token answered 200.) */
  async trusted(): Promise<boolean> {
    return (await this.discovery()).exchange.status === 200;
  }
}

/** The first `n` characters of a value's JSON, for details. */
export function preview(value: unknown, n = 80): string {
  const s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Paths of every null, "", [] or {} inside `v` (the CDS Hooks JSON rule). */
export function emptyValues(v: unknown, at = '$'): string[] {
  if (v === null) return [`${at} is null`];
  if (v === '') return [`${at} is ""`];
  if (Array.isArray(v)) return v.length === 0 ? [`${at} is []`] : v.flatMap((x, i) => emptyValues(x, `${at}[${i}]`));
  if (typeof v === 'object') {
    const entries = Object.entries(v as object);
    return entries.length === 0 ? [`${at} is {}`] : entries.flatMap(([k, x]) => emptyValues(x, `${at}.${k}`));
  }
  return [];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One check: the checklist item it decides, and whether it runs once or once per service under test. */
export interface CheckDef {
  item: number;
  scope: 'target' | 'service';
  run(ctx: SuiteContext, svc: ServiceUnderTest): Promise<Outcome>;
}

/** A check of the whole target (its `svc` argument is unused). */
export function targetCheck(item: number, run: (ctx: SuiteContext) => Promise<Outcome>): CheckDef {
  return { item, scope: 'target', run: (ctx) => run(ctx) };
}

/** A check run once per service under test. */
export function serviceCheck(item: number, run: (ctx: SuiteContext, svc: ServiceUnderTest) => Promise<Outcome>): CheckDef {
  return { item, scope: 'service', run };
}
