/**
 * One error shape for the whole service: an {@link OperationOutcomeError} carries the HTTP status and the
 * FHIR OperationOutcome the client receives. Routers throw these; `sendOutcome` in `http/errors.ts` is the
 * single place that turns them into responses. Anything else that escapes is an internal fault and is
 * answered with a generic 500 outcome (no stack, no internal detail).
 *
 * Each constructor below documents when it is used.
 */
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type IssueType = OperationOutcomeIssue['code'];

export class OperationOutcomeError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;

  constructor(status: number, outcome: OperationOutcome) {
    super(outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '));
    this.name = 'OperationOutcomeError';
    this.status = status;
    this.outcome = outcome;
  }
}

export interface IssueInput {
  code: IssueType;
  diagnostics: string;
  /** FHIRPath-like location of the problem in the request body, e.g. `context.patientId`. */
  expression?: string;
  severity?: OperationOutcomeIssue['severity'];
}

export function outcome(issues: IssueInput[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity ?? 'error',
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression ? { expression: [i.expression] } : {}),
    })),
  };
}

/** 400: the request body is malformed or violates the CDS Hooks request rules (checklist 41–44). */
export function badRequest(diagnostics: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(400, outcome([{ code: 'invalid', diagnostics, expression }]));
}

/** 400 with several issues, e.g. every schema violation of one request at once. */
export function invalidRequest(issues: IssueInput[]): OperationOutcomeError {
  return new OperationOutcomeError(400, outcome(issues));
}

/** 401: authentication failed. The body never says why; the reason goes to the log only. */
export function unauthorized(): OperationOutcomeError {
  return new OperationOutcomeError(401, outcome([{ code: 'login', diagnostics: 'Authentication required.' }]));
}

/** 404: no such CDS service, or no such route. */
export function notFound(diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError(404, outcome([{ code: 'not-found', diagnostics }]));
}

/** 422: the request is well formed, but the data it points to cannot be used (the preview's FHIR-server patient). */
export function unprocessable(diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError(422, outcome([{ code: 'processing', diagnostics }]));
}

/** 405: the route exists but not for this method. */
export function methodNotAllowed(method: string, path: string): OperationOutcomeError {
  return new OperationOutcomeError(
    405,
    outcome([{ code: 'not-supported', diagnostics: `${method} is not supported on ${path}.` }]),
  );
}

/** 412: data the service needs was neither prefetched nor retrievable from the FHIR server (spec SHALL). */
export function preconditionFailed(issues: IssueInput[]): OperationOutcomeError {
  return new OperationOutcomeError(412, outcome(issues));
}

/** 413: the request body is larger than the configured limit. */
export function payloadTooLarge(limitBytes: number): OperationOutcomeError {
  return new OperationOutcomeError(
    413,
    outcome([
      {
        code: 'too-costly',
        diagnostics: `Request body exceeds the limit of ${limitBytes} bytes. Send fewer or smaller prefetch resources, or let the service fetch them from fhirServer.`,
      },
    ]),
  );
}

/** 415: the body's encoding or charset cannot be read. */
export function unsupportedMediaType(diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError(415, outcome([{ code: 'not-supported', diagnostics }]));
}

/** 503: the service is shutting down or not ready. */
export function unavailable(diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError(503, outcome([{ code: 'transient', diagnostics }]));
}

/** 500: an internal fault. The message is deliberately generic; details go to the log with the request id. */
export function internalError(requestId?: string): OperationOutcomeError {
  const ref = requestId ? ` Reference: ${requestId}.` : '';
  return new OperationOutcomeError(
    500,
    outcome([{ code: 'exception', diagnostics: `The service could not process the request.${ref}` }]),
  );
}

export function isOperationOutcomeError(err: unknown): err is OperationOutcomeError {
  return err instanceof OperationOutcomeError;
}
