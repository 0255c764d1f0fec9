/**
 * Runs the checklist against a target: resolves the options (signing key, FHIR data), runs the chosen items in
 * checklist order (item 23, which judges every error body of the run, last) and returns the report.
 */
import { cardShapeChecks } from './card-shape';
import { CHECKLIST, CHECKLIST_BY_ITEM } from './checklist';
import { SuiteContext, Unavailable, type CheckDef, type ResolvedOptions } from './context';
import { discoveryChecks } from './discovery';
import { errorChecks } from './errors';
import { feedbackChecks } from './feedback';
import { invocationChecks } from './invocation';
import { securityChecks } from './security';
import { devIssuerSigner, loadKeys, makeSigner, type Signer, type SigningKey } from './tokens';
import type { CheckResult, Outcome } from './types';

export const CHECKS: readonly CheckDef[] = [...discoveryChecks, ...invocationChecks, ...cardShapeChecks, ...errorChecks, ...securityChecks, ...feedbackChecks];

export interface ConformanceOptions {
  /** Discovery URL (`<base>/cds-services`); a base URL without the path gets it appended. */
  url: string;
  /** Service ids; default: every patient-view service in discovery. */
  services?: string[];
  /** FHIR server holding the patients (default: the suite's own server with fixture patients). */
  fhir?: string;
  fhirToken?: string;
  /** Patient ids on `fhir` (required with `fhir`; default: the fixture patients). */
  patients?: string[];
  /** A private JWK or JWKS file, or keys already loaded; with `iss`. Default: the local development issuer. */
  keyFile?: string;
  keys?: SigningKey[];
  iss?: string;
  kid?: string;
  jku?: string;
  audBase?: string;
  /** Item numbers to run (default all). */
  only?: number[];
  /** Where the suite's FHIR server listens (default 127.0.0.1, any free port). */
  fhirHost?: string;
  fhirPort?: number;
  /** Calls timed for item 24 (default 20). */
  latencyCalls?: number;
  /** Item 24's p95 budget in ms (default 500, CDS Hooks' guidance); tests of the suite's own logic raise it. */
  latencyBudgetMs?: number;
  /** Per HTTP request (default 15 s). */
  timeoutMs?: number;
  /** How long to watch for a request that must never come (a foreign jku fetch, an SSRF decoy call) after the answer (default 300 ms). */
  settleMs?: number;
  userId?: string;
  /** Told about each result as soon as it is known. */
  onResult?: (r: CheckResult) => void;
}

export interface ConformanceSummary {
  pass: number;
  fail: number;
  skip: number;
  /** Items with an [S] FAIL: these make the exit code non-zero. */
  failedShall: number[];
  failedOther: number[];
  /** Checks the suite itself could not run (an error on its side, not the target's). */
  errors: number;
}

export interface ConformanceReport {
  target: string;
  services: string[];
  signer: string;
  fhir: string;
  startedAt: string;
  ms: number;
  results: CheckResult[];
  summary: ConformanceSummary;
  /** 0: no [S] item failed; 1: an [S] item failed; 2: the suite could not run some check (see the SKIP reasons). */
  exitCode: number;
}

/** Throws with a message a person can act on. */
export async function resolveOptions(opts: ConformanceOptions): Promise<ResolvedOptions> {
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch {
    throw new Error(`--url "${opts.url}" is not an absolute URL (e.g. http://localhost:8080/cds-services)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--url "${opts.url}" must be an http(s) URL`);
  if (u.search || u.hash) throw new Error(`--url "${opts.url}": no query or fragment`);
  let url = opts.url.replace(/\/+$/, '');
  if (!url.endsWith('/cds-services')) url = `${url}/cds-services`;
  const audBase = opts.audBase?.replace(/\/+$/, '');
  if (audBase !== undefined && !/^https?:\/\/[^/]+/.test(audBase)) throw new Error(`--aud-base "${opts.audBase}" is not an http(s) base URL`);
  const fhir = opts.fhir?.replace(/\/+$/, '');
  if (fhir !== undefined && !/^https?:\/\//.test(fhir)) throw new Error(`--fhir "${opts.fhir}" is not an http(s) URL`);
  if (fhir && !(opts.patients?.length)) throw new Error('--fhir needs --patient: the ids of patients on that server');
  if (!fhir && opts.patients?.length) throw new Error('--patient goes with --fhir (without --fhir the suite loads its own fixture patients)');

  let signer: Signer;
  if (opts.keys || opts.keyFile) {
    if (!opts.iss) throw new Error('--key needs --iss: the issuer the target trusts the key for');
    const keys = opts.keys ?? (await loadKeys(opts.keyFile!, opts.kid));
    signer = makeSigner(opts.iss, keys, opts.keyFile ? `${opts.iss} (${opts.keyFile})` : opts.iss, opts.jku);
  } else {
    if (opts.iss || opts.kid) throw new Error('--iss and --kid go with --key');
    const dev = await devIssuerSigner();
    signer = opts.jku ? makeSigner(dev.iss, dev.keys, dev.source, opts.jku) : dev;
  }
  const latencyCalls = opts.latencyCalls ?? 20;
  if (!Number.isInteger(latencyCalls) || latencyCalls < 1 || latencyCalls > 1000) throw new Error('--latency-calls must be a whole number from 1 to 1000');
  const latencyBudgetMs = opts.latencyBudgetMs ?? 500;
  if (!Number.isInteger(latencyBudgetMs) || latencyBudgetMs < 1) throw new Error('--latency-budget must be a whole number of milliseconds, at least 1');
  const fhirPort = opts.fhirPort ?? 0;
  if (!Number.isInteger(fhirPort) || fhirPort < 0 || fhirPort > 65535) throw new Error(`--fhir-port ${opts.fhirPort} is not a port number`);
  const userId = opts.userId ?? 'Practitioner/conformance-1';
  if (!/^(Practitioner|PractitionerRole|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/.test(userId)) throw new Error(`--user "${userId}" is not Practitioner|PractitionerRole|Patient|RelatedPerson/<id>`);
  return {
    url,
    services: opts.services ?? [],
    ...(fhir ? { fhir } : {}),
    ...(opts.fhirToken ? { fhirToken: opts.fhirToken } : {}),
    patients: opts.patients ?? [],
    signer,
    ...(audBase ? { audBase } : {}),
    fhirHost: opts.fhirHost ?? '127.0.0.1',
    fhirPort,
    latencyCalls,
    latencyBudgetMs,
    timeoutMs: opts.timeoutMs ?? 15_000,
    settleMs: opts.settleMs ?? 300,
    userId,
  };
}

async function runOne(ctx: SuiteContext, check: CheckDef, service?: string): Promise<{ outcome: Outcome; errored: boolean }> {
  try {
    const svc = service === undefined ? (undefined as never) : (await ctx.services()).find((s) => s.id === service)!;
    return { outcome: await check.run(ctx, svc), errored: false };
  } catch (err) {
    if (err instanceof Unavailable) return { outcome: { status: 'SKIP', details: [err.message], notes: [] }, errored: false };
    return { outcome: { status: 'SKIP', details: [`the suite could not run this check: ${err instanceof Error ? err.message : String(err)}`], notes: [] }, errored: true };
  }
}

export async function runConformance(opts: ConformanceOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const resolved = await resolveOptions(opts);
  const ctx = new SuiteContext(resolved);
  const only = opts.only ? new Set(opts.only) : undefined;
  const chosen = CHECKS.filter((c) => !only || only.has(c.item));
  // Item 23 looks at every non-2xx answer of the run: it goes last.
  const ordered = [...chosen.filter((c) => c.item !== 23), ...chosen.filter((c) => c.item === 23)];
  const results: CheckResult[] = [];
  let errors = 0;
  let serviceIds: string[] = [];
  try {
    for (const check of ordered) {
      const meta = CHECKLIST_BY_ITEM.get(check.item)!;
      const runs: (string | undefined)[] = [];
      if (check.scope === 'target') runs.push(undefined);
      else {
        try {
          serviceIds = (await ctx.services()).map((s) => s.id);
          runs.push(...serviceIds);
        } catch (err) {
          if (!(err instanceof Unavailable)) throw err;
          const r: CheckResult = { ...meta, status: 'SKIP', details: [err.message], notes: [], ms: 0 };
          results.push(r);
          opts.onResult?.(r);
          continue;
        }
      }
      for (const service of runs) {
        const t0 = performance.now();
        const { outcome, errored } = await runOne(ctx, check, service);
        if (errored) errors++;
        const r: CheckResult = { ...meta, ...(service !== undefined ? { service } : {}), ...outcome, ms: Math.round(performance.now() - t0) };
        results.push(r);
        opts.onResult?.(r);
      }
    }
    if (serviceIds.length === 0) serviceIds = await ctx.services().then((s) => s.map((x) => x.id), () => []);
  } finally {
    for (const close of ctx.cleanups.reverse()) await close().catch(() => undefined);
  }
  const order = new Map(CHECKLIST.map((c, i) => [c.item, i]));
  results.sort((a, b) => order.get(a.item)! - order.get(b.item)! || (a.service ?? '').localeCompare(b.service ?? ''));
  const failedShall = [...new Set(results.filter((r) => r.status === 'FAIL' && r.tag === 'S').map((r) => r.item))];
  const failedOther = [...new Set(results.filter((r) => r.status === 'FAIL' && r.tag !== 'S').map((r) => r.item))];
  const summary: ConformanceSummary = {
    pass: results.filter((r) => r.status === 'PASS').length,
    fail: results.filter((r) => r.status === 'FAIL').length,
    skip: results.filter((r) => r.status === 'SKIP').length,
    failedShall,
    failedOther,
    errors,
  };
  const data = resolved.fhir ?? 'the suite FHIR server (fixture patients)';
  return {
    target: resolved.url,
    services: serviceIds,
    signer: resolved.signer.source,
    fhir: data,
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
    results,
    summary,
    exitCode: failedShall.length > 0 ? 1 : errors > 0 ? 2 : 0,
  };
}
