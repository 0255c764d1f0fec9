/**
 * Search matching for the test server's indexed searches: medplum 4.5.2's `matchesSearchRequest` parses the
 * search parameter's FHIRPath expression again for every resource it tests, which was most of the server's
 * time on a fallback hook (92 Observations × 2 filters per query). Here each expression is parsed once per
 * process, what it yields on a stored resource is computed once per resource (`indexedValue`), and each
 * filter's values are read once per search.
 *
 * `=` filters on reference and token parameters — every filter of the prefetch queries — are matched here,
 * from medplum's own value conversions (`convertToSearchableReferences`, `convertToSearchableTokens`) and by
 * the rules of FHIR token search (`[code]`, `[system]|[code]`, `|[code]`, `[system]|`, case-insensitive as in
 * medplum). Every other filter is handed to medplum's `matchesSearchRequest`. `match.test.ts` checks the
 * answers against medplum's on every resource of the fixtures.
 */
import type { FhirPathAtom, Filter, SearchRequest } from '@medplum/core';
import {
  convertToSearchableReferences,
  convertToSearchableTokens,
  evalFhirPathTyped,
  globalSchema,
  matchesSearchRequest,
  Operator,
  parseFhirPath,
  splitSearchOnComma,
  toTypedValue,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

type Test = (resource: Resource) => boolean;

const parsed = new Map<string, FhirPathAtom>();

/** A FHIRPath expression parsed once per process. */
export function parsedOnce(expression: string): FhirPathAtom {
  let atom = parsed.get(expression);
  if (!atom) parsed.set(expression, (atom = parseFhirPath(expression)));
  return atom;
}

/**
 * What `expression` yields on a stored resource, computed once per resource — as a server indexes search
 * values when it writes. Keyed by the stored object: the repository replaces it on every write and never
 * hands it out (reads and searches return copies), so a cached value cannot go stale.
 */
const indexed = new WeakMap<Resource, Map<FhirPathAtom, unknown>>();

export function indexedValue<V>(resource: Resource, expression: FhirPathAtom, compute: () => V): V {
  let values = indexed.get(resource);
  if (!values) indexed.set(resource, (values = new Map()));
  if (!values.has(expression)) values.set(expression, compute());
  return values.get(expression) as V;
}

/** One test for all filters of `searchRequest` (resource type included), with the same answers as medplum's. */
export function searchMatcher(searchRequest: SearchRequest): Test {
  const tests = (searchRequest.filters ?? []).map((filter) => filterTest(searchRequest.resourceType, filter));
  return (resource) => resource.resourceType === searchRequest.resourceType && tests.every((test) => test(resource));
}

function filterTest(resourceType: string, filter: Filter): Test {
  const param = globalSchema.types[resourceType]?.searchParams?.[filter.code];
  const byMedplum: Test = (resource) => matchesSearchRequest(resource, { resourceType, filters: [filter] } as SearchRequest);
  // `_compartment` also matches bare ids ("123" for "Patient/123"): left to medplum, like every other operator.
  if (!param?.expression || filter.operator !== Operator.EQUALS || filter.code === '_compartment') return byMedplum;
  const expression = parsedOnce(param.expression);
  const values = (resource: Resource) => indexedValue(resource, expression, () => evalFhirPathTyped(expression, [toTypedValue(resource)]));
  const wanted = splitSearchOnComma(filter.value);

  if (param.type === 'reference') {
    return (resource) => {
      const found = values(resource);
      if (filter.value === '' && found.length === 0) return true; // `param=` matches resources without one
      const references = convertToSearchableReferences(found);
      return wanted.some((w) => references.includes(w));
    };
  }
  if (param.type === 'token') {
    const patterns = wanted.map(tokenPattern);
    return (resource) => convertToSearchableTokens(values(resource)).some((token) => patterns.some((p) => p(token.system, token.value)));
  }
  return byMedplum;
}

/** A token search value as a test of (system, value), both compared in lower case. */
function tokenPattern(text: string): (system: string | undefined, value: string | undefined) => boolean {
  const lower = (s: string | undefined) => s?.toLowerCase();
  if (!text.includes('|')) {
    const code = text.toLowerCase();
    return (_system, value) => lower(value) === code;
  }
  const [system = '', code = ''] = text.split('|').map((s) => s.toLowerCase());
  if (!system && !code) return () => false;
  if (!system) return (s, value) => !s && lower(value) === code; // `|code`: only codes without a system
  return (s, value) => lower(s) === system && (!code || lower(value) === code); // `system|code`, `system|`
}
