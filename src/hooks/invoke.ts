/**
 * One hook call, end to end: validate the request, gather its data (prefetch or FHIR fallback), evaluate the
 * service's rules, render the cards. Each stage is timed for the metrics and the log.
 */
import type { CdsRequest, CdsResponse } from '../cds-hooks/types';
import { assertValid } from '../cds-hooks/validation';
import { renderCards } from '../cards/render';
import { evaluate, type Evaluation, type EvaluationError } from '../engine/evaluate';
import { screenResources, summarizeInvalid, type InvalidResource } from '../hardening/fhir-r4';
import { scopeToPatient } from '../hardening/patient-scope';
import { badRequest } from '../outcomes';
import { resolvePrefetch, type KeyReport, type ResolveOptions } from '../prefetch/resolve';
import type { CdsService } from '../services/registry';

/** `fetch` is the FHIR fallback (only when it was used); `prefetch` is the rest of gathering the data. */
export type Stage = 'validate' | 'prefetch' | 'fetch' | 'evaluate' | 'render';

export interface HookResult {
  response: CdsResponse;
  request: CdsRequest;
  /** Milliseconds per stage. */
  timings: Partial<Record<Stage, number>>;
  keys: KeyReport[];
  /** FHIRPath errors met on odd resources (the call still succeeded). */
  ruleErrors: EvaluationError[];
  resourceCount: number;
  /** Resources left out of the evaluation because they are not valid FHIR R4 (type, path, keyword; never a value). */
  invalidResources?: InvalidResource[];
  /** Resources left out because they name another patient than `context.patientId` (type, element; never the id). */
  otherPatientResources?: InvalidResource[];
  /** The evaluation behind the cards, only when asked for with `keepEvaluation` (the preview page charts it). */
  evaluation?: Evaluation;
}

export interface InvokeOptions extends ResolveOptions {
  /** Evaluation time; defaults to the time of the call. */
  now?: () => number;
  /** Return the evaluation in the result (not for the hook route: it holds every resource of the call). */
  keepEvaluation?: boolean;
}

export async function invokeHook(service: CdsService, body: unknown, opts: InvokeOptions): Promise<HookResult> {
  const timings: HookResult['timings'] = {};
  let t = performance.now();
  const lap = (stage: Stage) => {
    const now = performance.now();
    timings[stage] = now - t;
    t = now;
  };

  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object: a CDS Hooks request with hook, hookInstance and context.');
  }
  assertValid('request', body);
  const request = body;
  if (request.hook !== service.definition.hook) {
    throw badRequest(`Service "${service.id}" answers the "${service.definition.hook}" hook, not "${request.hook}".`, 'hook');
  }
  if (request.fhirAuthorization && !request.fhirServer) {
    throw badRequest('fhirAuthorization was given without fhirServer; send the FHIR base URL the token is for.', 'fhirServer');
  }
  lap('validate');

  let fetchMs: number | undefined;
  const data = await resolvePrefetch(service.definition.prefetch ?? {}, request, {
    ...opts,
    onFetched: (report) => {
      fetchMs = report.ms;
      opts.onFetched?.(report);
    },
  });
  // Only valid FHIR R4 about the patient in context reaches the rules; the rest is reported, never fatal.
  const screened = screenResources(data.resources);
  const scoped = scopeToPatient(screened.valid, request.context.patientId);
  lap('prefetch');
  if (fetchMs !== undefined) {
    timings.fetch = fetchMs;
    timings.prefetch = Math.max(0, timings.prefetch! - fetchMs);
  }

  const evaluation = evaluate(service.ruleSet, service.profile, {
    resources: scoped.own,
    patientId: request.context.patientId,
    now: opts.now?.() ?? Date.now(),
  });
  lap('evaluate');

  const cards = renderCards(evaluation, {
    patientId: request.context.patientId,
    unreadable: summarizeInvalid(screened.invalid),
    otherPatient: summarizeInvalid(scoped.others),
  });
  lap('render');

  return {
    response: { cards },
    request,
    timings,
    keys: data.keys,
    ruleErrors: evaluation.errors,
    resourceCount: scoped.own.length,
    invalidResources: screened.invalid,
    otherPatientResources: scoped.others,
    ...(opts.keepEvaluation ? { evaluation } : {}),
  };
}
