/**
 * The reason class of a failed FHIR fallback query, for the `il6cds_fhir_fetch_errors_total{reason}` counter:
 * a short fixed vocabulary (never a URL, a status text or anything from the server's answer).
 */
import { FhirFetchError } from '../prefetch/fhir-client';

export const FETCH_ERROR_REASONS = [
  'timeout',
  'network',
  'http_auth',
  'http_4xx',
  'http_5xx',
  'invalid_response',
  'too_large',
  'foreign_link',
  'other',
] as const;

export type FetchErrorReason = (typeof FETCH_ERROR_REASONS)[number];

export function fetchErrorReason(err: unknown): FetchErrorReason {
  if (!(err instanceof FhirFetchError)) return 'other';
  if (err.status !== undefined) {
    if (err.status === 401 || err.status === 403) return 'http_auth';
    return err.status >= 500 ? 'http_5xx' : 'http_4xx';
  }
  const r = err.reason;
  if (/before the deadline/.test(r)) return 'timeout';
  if (/could not be reached|was cut off/.test(r)) return 'network';
  if (/larger than|more than \d+ (pages|resources)/.test(r)) return 'too_large';
  if (/next link/.test(r)) return 'foreign_link';
  if (/not JSON|not a FHIR resource|OperationOutcome/.test(r)) return 'invalid_response';
  return 'other';
}
