/**
 * Prefetch template tokens (CDS Hooks 2.0 §prefetch-tokens): `{{context.<field>}}` for the hook's token fields
 * and the four user tokens derived from `context.userId`. Values are URL-encoded on substitution.
 */
import type { PatientViewContext } from '../cds-hooks/types';

/** patient-view marks these context fields as prefetch tokens. */
export const CONTEXT_TOKENS = ['userId', 'patientId', 'encounterId'] as const;
export const USER_TOKENS = {
  userPractitionerId: 'Practitioner',
  userPractitionerRoleId: 'PractitionerRole',
  userPatientId: 'Patient',
  userRelatedPersonId: 'RelatedPerson',
} as const;

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Every token a template uses, as written between the braces. */
export function templateTokens(template: string): string[] {
  return [...template.matchAll(TOKEN)].map((m) => m[1] ?? '');
}

/** Why a token is not allowed in a template, or undefined when it is (checklist item 8). */
export function tokenProblem(token: string): string | undefined {
  const ctx = /^context\.(.+)$/.exec(token);
  if (ctx) {
    return (CONTEXT_TOKENS as readonly string[]).includes(ctx[1]!)
      ? undefined
      : `{{${token}}} is not a patient-view prefetch token (allowed: ${CONTEXT_TOKENS.map((t) => `context.${t}`).join(', ')})`;
  }
  if (token in USER_TOKENS) return undefined;
  return `{{${token}}} is not a CDS Hooks 2.0 prefetch token`;
}

export type RenderResult = { query: string } | { unresolved: string };

/**
 * Substitutes the tokens of `template`. When a token has no value in this request (no `encounterId`, or a
 * `{{userPractitionerId}}` while the user is a PractitionerRole) the query cannot be formed: the result names
 * the token, and the caller treats the key as having no data.
 */
export function renderTemplate(template: string, context: PatientViewContext): RenderResult {
  let unresolved: string | undefined;
  const query = template.replace(TOKEN, (_, token: string) => {
    const value = tokenValue(token, context);
    if (value === undefined) {
      unresolved ??= token;
      return '';
    }
    return encodeURIComponent(value);
  });
  return unresolved === undefined ? { query } : { unresolved };
}

function tokenValue(token: string, context: PatientViewContext): string | undefined {
  const ctx = /^context\.(.+)$/.exec(token);
  if (ctx) {
    const v = context[ctx[1]!];
    return typeof v === 'string' && v !== '' ? v : undefined;
  }
  const wanted = USER_TOKENS[token as keyof typeof USER_TOKENS];
  if (!wanted) return undefined;
  const [type, id] = context.userId.split('/');
  return type === wanted && id ? id : undefined;
}
