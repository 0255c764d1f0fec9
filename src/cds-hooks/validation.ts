/**
 * JSON Schema validation of every CDS Hooks body (validators compiled at build time, src/precompiled-validators.ts; never per request).
 * Violations become OperationOutcome issues whose `diagnostics` a person can act on and whose `expression`
 * points at the offending field (`context.patientId`, `cards[0].summary`).
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { invalidRequest, type IssueInput } from '../outcomes';
import { CDS_HOOKS_SCHEMAS, schemaValidators } from '../precompiled-validators';
import type { CdsRequest, CdsResponse, CdsServiceDefinition, DiscoveryResponse, FeedbackRequest } from './types';

export const schemas = CDS_HOOKS_SCHEMAS.schemas;

const compiled = schemaValidators(CDS_HOOKS_SCHEMAS);
const validators = {
  serviceDefinition: compiled.serviceDefinition as ValidateFunction<CdsServiceDefinition>,
  discovery: compiled.discovery as ValidateFunction<DiscoveryResponse>,
  request: compiled.request as ValidateFunction<CdsRequest>,
  response: compiled.response as ValidateFunction<CdsResponse>,
  feedback: compiled.feedback as ValidateFunction<FeedbackRequest>,
};

export type SchemaName = keyof typeof validators;

/** Returns the issues of `value` against the named schema; an empty list means valid. */
export function schemaIssues(name: SchemaName, value: unknown): IssueInput[] {
  const validate = validators[name] as ValidateFunction;
  if (validate(value)) return [];
  return describeErrors(validate.errors ?? []);
}

/** Throws a 400 OperationOutcomeError listing every violation; otherwise narrows `value`. */
export function assertValid<N extends SchemaName>(
  name: N,
  value: unknown,
): asserts value is (typeof validators)[N] extends ValidateFunction<infer T> ? T : never {
  const issues = schemaIssues(name, value);
  if (issues.length > 0) throw invalidRequest(issues);
}

/** `/context/patientId` → `context.patientId`; `/cards/0/summary` → `cards[0].summary`. */
export function pointerToPath(pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let path = '';
  for (const part of parts) {
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else path += path ? `.${part}` : part;
  }
  return path || '(body)';
}

function describeErrors(errors: ErrorObject[]): IssueInput[] {
  const seen = new Set<string>();
  const issues: IssueInput[] = [];
  for (const e of withoutShapesNotTaken(errors)) {
    // `if/then` and `allOf` wrappers repeat the real error; keep the specific ones.
    if (e.keyword === 'if' || e.keyword === 'allOf' || e.keyword === 'anyOf') continue;
    const issue = describe(e);
    const key = `${issue.expression}|${issue.diagnostics}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues.length > 0 ? issues : [{ code: 'invalid', diagnostics: 'The body does not match the schema.' }];
}

/**
 * For each `anyOf` that failed, ajv reports every alternative's errors. An alternative whose only error is the
 * value's type is a shape the value did not take: when another alternative got past the type (the value has its
 * shape and is wrong inside), those type errors are dropped; when none did, they become one error listing the types.
 */
function withoutShapesNotTaken(errors: ErrorObject[]): ErrorObject[] {
  let out = errors;
  for (const anyOf of errors.filter((e) => e.keyword === 'anyOf')) {
    const branches = new Map<string, ErrorObject[]>();
    for (const e of out) {
      const inside = e.instancePath === anyOf.instancePath || e.instancePath.startsWith(`${anyOf.instancePath}/`);
      if (e === anyOf || !inside || !e.schemaPath.startsWith(`${anyOf.schemaPath}/`)) continue;
      const branch = e.schemaPath.slice(anyOf.schemaPath.length + 1).split('/')[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    const notTaken = [...branches.values()].filter((b) => b.length === 1 && b[0]!.keyword === 'type' && b[0]!.instancePath === anyOf.instancePath).map((b) => b[0]!);
    if (notTaken.length === 0) continue;
    const drop = new Set(notTaken);
    if (notTaken.length < branches.size) {
      out = out.filter((e) => !drop.has(e));
    } else {
      const types = notTaken.map((e) => String((e.params as { type: unknown }).type)).join(' or ');
      const merged: ErrorObject = { ...notTaken[0]!, params: { type: types } };
      out = out.flatMap((e) => (e === notTaken[0] ? [merged] : drop.has(e) ? [] : [e]));
    }
  }
  return out;
}

function describe(e: ErrorObject): IssueInput {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const path = pointerToPath(e.instancePath, String(p.missingProperty));
      return { code: 'required', expression: path, diagnostics: `${path} is required.` };
    }
    case 'additionalProperties': {
      const path = pointerToPath(e.instancePath, String(p.additionalProperty));
      return { code: 'structure', expression: path, diagnostics: `${path} is not allowed here.` };
    }
    case 'type': {
      const path = pointerToPath(e.instancePath);
      return { code: 'structure', expression: path, diagnostics: `${path} must be of type ${String(p.type)}.` };
    }
    case 'enum': {
      const path = pointerToPath(e.instancePath);
      const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { code: 'value', expression: path, diagnostics: `${path} must be one of ${allowed}.` };
    }
    case 'const': {
      const path = pointerToPath(e.instancePath);
      return { code: 'value', expression: path, diagnostics: `${path} must be ${JSON.stringify(p.allowedValue)}.` };
    }
    case 'pattern':
    case 'format': {
      const path = pointerToPath(e.instancePath);
      const what = e.keyword === 'format' ? `a valid ${String(p.format)}` : formatHint(e);
      return { code: 'value', expression: path, diagnostics: `${path} must be ${what}.` };
    }
    case 'minItems':
    case 'maxItems':
    case 'minLength':
    case 'maxLength':
    case 'minProperties': {
      const path = pointerToPath(e.instancePath);
      const n = Number(p.limit);
      const least = e.keyword.startsWith('min');
      const what = { minItems: 'item', maxItems: 'item', minLength: 'character', maxLength: 'character', minProperties: 'field' }[e.keyword];
      const empty = least && n === 1 ? (e.keyword === 'minLength' ? 'an empty text' : 'empty') : undefined;
      const diagnostics = empty ? `${path} must not be ${empty}.` : `${path} must have ${least ? 'at least' : 'at most'} ${n} ${what}${n === 1 ? '' : 's'}.`;
      return { code: 'invalid', expression: path, diagnostics };
    }
    default: {
      const path = pointerToPath(e.instancePath);
      return { code: 'invalid', expression: path, diagnostics: `${path} ${e.message ?? 'is invalid'}.` };
    }
  }
}

/** Human hints for the patterns the request schema uses; falls back to the regular expression. */
function formatHint(e: ErrorObject): string {
  const pattern = String((e.params as { pattern?: string }).pattern);
  if (pattern.startsWith('^(Practitioner|')) return 'a reference Type/id with Type one of Practitioner, PractitionerRole, Patient, RelatedPerson';
  if (pattern.startsWith('^[A-Za-z0-9\\-.]{1,64}')) return 'a FHIR id (1–64 letters, digits, "-" or ".")';
  if (pattern === '^https?://') return 'an http(s) URL';
  if (pattern === '^[A-Z][A-Za-z]+$') return 'a FHIR resource type such as Patient or Bundle';
  return `a text matching ${pattern}`;
}
