/**
 * The conformance checklist of the project's CDS Hooks 2.0 digest (`docs/cds-hooks.md` in the shared documents,
 * items 1–59), as data: number, tag and a one-line title per item. The checks themselves live in one module per
 * section.
 */
import type { ChecklistItem, Section, Tag } from './types';

const items: [number, Tag, Section, string][] = [
  [1, 'S', 'discovery', 'GET /cds-services answers 200 with a JSON object'],
  [2, 'S', 'discovery', 'the discovery body has a `services` array'],
  [3, 'S', 'discovery', 'every service has non-empty string `hook`, `id` and `description`'],
  [4, 'R', 'discovery', 'every service has a string `title`'],
  [5, 'S', 'discovery', 'the service under test has `hook` "patient-view"'],
  [6, 'S', 'discovery', 'no null, "", [] or {} in discovery; an empty `prefetch` is omitted'],
  [7, 'S', 'discovery', '`prefetch`, if present, maps keys to strings'],
  [8, 'S', 'discovery', 'templates use only context.userId|patientId|encounterId and the four user tokens'],
  [9, 'R', 'discovery', 'templates stay within the recommended FHIR query subset'],
  [10, 'S', 'discovery', 'every discovered id accepts POST /cds-services/{id}'],
  [11, 'R', 'discovery', 'CORS preflight succeeds without a JWT and allows Authorization and Content-Type'],
  [12, 'R', 'discovery', 'responses carry Access-Control-Allow-Origin'],
  [13, 'S', 'invocation', 'a valid request with every prefetch key answers 200 JSON'],
  [14, 'S', 'invocation', 'the response has a `cards` array'],
  [15, 'S', 'invocation', '`systemActions`, if present, is an array of Actions'],
  [16, 'R', 'invocation', 'no guidance answers 200 {"cards":[]}'],
  [17, 'S', 'invocation', 'works with and without `encounterId`'],
  [18, 'S', 'invocation', 'unknown top-level fields and an `extension` object are ignored'],
  [19, 'S', 'invocation', 'a prefetch key with value null means "no data": 200, no re-query'],
  [20, 'S', 'invocation', 'an OperationOutcome prefetch value is detected, not used as data'],
  [21, 'R', 'invocation', 'missing prefetch is fetched from fhirServer with Bearer <access_token>'],
  [22, 'S', 'invocation', 'required data neither prefetched nor retrievable answers 412'],
  [23, 'R', 'invocation', '412 and other non-2xx bodies are OperationOutcomes'],
  [24, 'R', 'invocation', 'p95 latency with full prefetch is at most 500 ms'],
  [25, 'S', 'card-shape', '`summary` is a string under 140 characters'],
  [26, 'S', 'card-shape', '`indicator` is info, warning or critical'],
  [27, 'S', 'card-shape', '`source.label` is non-empty; `source.url`/`icon` are absolute URLs'],
  [28, 'R', 'card-shape', '`source.topic` is a Coding with `code` and `system`'],
  [29, 'S', 'card-shape', '`detail`, if present, is a non-empty Markdown string'],
  [30, 'S', 'card-shape', 'suggestions imply `selectionBehavior` at-most-one|any'],
  [31, 'S', 'card-shape', 'with at-most-one, at most one suggestion has isRecommended: true'],
  [32, 'S', 'card-shape', 'every suggestion has a `label`; `isRecommended` is boolean'],
  [33, 'S', 'card-shape', 'every action has `type` create|update|delete and a `description`'],
  [34, 'S', 'card-shape', 'create/update carry a FHIR `resource`; delete carries `resourceId` Type/id'],
  [35, 'S', 'card-shape', 'every overrideReason has `code`, `system` and `display`'],
  [36, 'S', 'card-shape', 'every link has a `label`, an absolute `url` and `type` absolute|smart'],
  [37, 'S', 'card-shape', 'no absolute link carries `appContext`'],
  [38, 'R', 'card-shape', 'cards and suggestions carry a `uuid` that differs across calls'],
  [39, 'S', 'card-shape', 'no null or empty values anywhere in the response'],
  [40, 'I', 'errors', 'an unknown service id answers 404'],
  [41, 'I', 'errors', 'a hook other than the service\'s answers 400 with an OperationOutcome'],
  [42, 'I', 'errors', 'a non-JSON body or a missing hook/hookInstance/context/patientId/userId answers 400'],
  [43, 'I', 'errors', 'a userId that is not Practitioner|PractitionerRole|Patient|RelatedPerson/id answers 400'],
  [44, 'S', 'errors', '`fhirAuthorization` without `fhirServer` answers 400'],
  [45, 'R', 'security', 'no Authorization header answers 401'],
  [46, 'S', 'security', 'an unsigned JWT (alg none) answers 401'],
  [47, 'S', 'security', 'an HS256-signed JWT answers 401'],
  [48, 'R', 'security', 'valid ES384 and RS384 JWTs from a trusted issuer answer 200'],
  [49, 'S', 'security', '`aud` naming another endpoint answers 401; a one-element array with the right URL 200'],
  [50, 'R', 'security', 'expired `exp`, or no `iat`/`jti`/`kid`/`typ`, answers 401'],
  [51, 'R', 'security', 'an untrusted `iss` answers 401; a non-allowlisted `jku` is never fetched'],
  [52, 'R', 'security', 'a replayed `jti` answers 401'],
  [53, 'R', 'security', '401 bodies do not say why'],
  [54, 'R', 'security', 'a JWT without `sub` or `tenant` is accepted'],
  [55, 'I', 'security', 'a fhirServer not bound to the caller is never contacted (SSRF guard)'],
  [56, 'S', 'security', 'HTTPS only, TLS 1.2 or later'],
  [57, 'I', 'feedback', 'accepted feedback with acceptedSuggestions answers 200/204'],
  [58, 'I', 'feedback', 'overridden feedback with a reason Coding without display is accepted'],
  [59, 'I', 'feedback', 'accepted without acceptedSuggestions, or an unknown outcome, answers 400'],
];

export const CHECKLIST: readonly ChecklistItem[] = items.map(([item, tag, section, title]) => ({ item, tag, section, title }));

export const CHECKLIST_BY_ITEM: ReadonlyMap<number, ChecklistItem> = new Map(CHECKLIST.map((i) => [i.item, i]));

export const SECTION_TITLES: Record<Section, string> = {
  discovery: 'Discovery and CORS',
  invocation: 'Invocation',
  'card-shape': 'Card shape',
  errors: 'Errors and routing',
  security: 'Security',
  feedback: 'Feedback',
};

/** Parses `--only` (e.g. "1-12,25,46") into item numbers; throws on anything that is not an item. */
export function parseItemList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not an item number or range (e.g. 1-12,25,46)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to) throw new Error(`"${part}": the range is backwards`);
    for (let i = from; i <= to; i++) {
      if (!CHECKLIST_BY_ITEM.has(i)) throw new Error(`item ${i} is not on the checklist (1–${CHECKLIST.length})`);
      out.add(i);
    }
  }
  if (out.size === 0) throw new Error('no items given');
  return [...out].sort((a, b) => a - b);
}
