/**
 * A CDS client for tests. Every successful hook response goes through the CDS Hooks 2.0 response schema
 * (checklist items 14, 15, 25–39), so every response the suite produces is validated, not just a sample.
 */
import { randomUUID } from 'node:crypto';
import type { CdsRequest, CdsResponse } from '../../src/cds-hooks/types';
import { schemaIssues } from '../../src/cds-hooks/validation';

export interface HookReply {
  status: number;
  body: unknown;
  headers: Headers;
  ms: number;
}

export async function postHook(baseUrl: string, serviceId: string, body: unknown, headers: Record<string, string> = {}): Promise<HookReply> {
  const start = performance.now();
  const res = await fetch(`${baseUrl}/cds-services/${serviceId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - start;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`Response ${res.status} is not JSON: ${text.slice(0, 200)}`);
  }
  if (res.status === 200) assertValidResponse(parsed);
  else assertOperationOutcome(parsed, res.status);
  return { status: res.status, body: parsed, headers: res.headers, ms };
}

export function assertValidResponse(body: unknown): asserts body is CdsResponse {
  const issues = schemaIssues('response', body);
  if (issues.length > 0) throw new Error(`Response violates the CDS Hooks response schema: ${issues.map((i) => i.diagnostics).join('; ')}`);
}

/** Every non-2xx body is an OperationOutcome with a message a person can act on, and no stack trace. */
export function assertOperationOutcome(body: unknown, status: number): void {
  const oo = body as { resourceType?: string; issue?: { diagnostics?: string; code?: string }[] };
  if (oo.resourceType !== 'OperationOutcome' || !Array.isArray(oo.issue) || oo.issue.length === 0) {
    throw new Error(`HTTP ${status} body is not an OperationOutcome: ${JSON.stringify(body).slice(0, 300)}`);
  }
  const text = JSON.stringify(body);
  if (/\bat .+\.(ts|js):\d+|node_modules|Error: /.test(text)) throw new Error(`HTTP ${status} body leaks internals: ${text.slice(0, 300)}`);
  for (const i of oo.issue) if (!i.diagnostics || i.diagnostics.length < 10) throw new Error(`HTTP ${status} issue without a usable message: ${JSON.stringify(i)}`);
}

/** A minimal valid patient-view request. */
export function hookRequest(patientId: string, extra: Partial<CdsRequest> = {}): CdsRequest {
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/example', patientId },
    ...extra,
  };
}

export function findingCodes(body: CdsResponse): string[] {
  return body.cards.map((c) => c.source.topic?.code ?? '?').sort();
}

/** Paths of every null, empty string, empty array or empty object inside `v`. */
export function emptyValues(v: unknown, at = '$'): string[] {
  if (v === null || v === '') return [at];
  if (Array.isArray(v)) return v.length === 0 ? [at] : v.flatMap((x, i) => emptyValues(x, `${at}[${i}]`));
  if (typeof v === 'object') {
    const entries = Object.entries(v as object);
    return entries.length === 0 ? [at] : entries.flatMap(([k, x]) => emptyValues(x, `${at}.${k}`));
  }
  return [];
}
