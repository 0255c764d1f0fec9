/**
 * searchMatcher gives medplum's answer (matchesSearchRequest) for every resource of the fixtures and every
 * query below: the prefetch queries, the token forms (`code`, `system|code`, `|code`, `system|`, `|`, case),
 * reference forms, and filters it hands to medplum (other operators, other parameter types).
 */
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { fixtureResources, listFixtures } from '../fixtures/catalog';
import { searchMatcher } from './match';
import { ensureFhirSchemaIndexed } from './schema';

const resources: Resource[] = [];
const patients: string[] = [];

beforeAll(() => {
  ensureFhirSchemaIndexed();
  const now = new Date(Date.UTC(2026, 5, 1));
  for (const fixture of listFixtures()) {
    for (const r of fixtureResources(fixture, now)) {
      resources.push(r as unknown as Resource);
      if (r.resourceType === 'Patient') patients.push(`Patient/${r.id}`);
    }
  }
  // A coding without a system, and codes in upper case: what `|code` and case-insensitivity are about.
  resources.push({ resourceType: 'Observation', id: 'nosys', status: 'final', code: { coding: [{ code: '26881-3' }], text: 'IL-6' }, subject: { reference: patients[0]! } } as Resource);
  resources.push({ resourceType: 'Observation', id: 'upper', status: 'FINAL' as 'final', code: { coding: [{ system: 'HTTP://LOINC.ORG', code: '26881-3' }] }, subject: { reference: patients[1]! } } as Resource);
});

const queries = (patient: string, id: string) => [
  `Observation?patient=${patient}&code=http://loinc.org|26881-3,http://loinc.org|30522-7&_sort=-date&_count=500`,
  `Observation?patient=${id}`,
  `Observation?subject=${patient}`,
  `Observation?patient=${patient},Patient/none`,
  `Observation?patient=`,
  `Observation?code=26881-3`,
  `Observation?code=|26881-3`,
  `Observation?code=http://loinc.org|`,
  `Observation?code=HTTP://LOINC.ORG|26881-3`,
  `Observation?code=|`,
  `Observation?code:not=http://loinc.org|26881-3`,
  `Observation?code:missing=true`,
  `Observation?status=final,amended`,
  `Observation?date=ge2026-01-01`,
  `Condition?patient=${patient}&clinical-status=active`,
  `Procedure?patient=${patient}&status=completed`,
  `Encounter?patient=${patient}&class=http://terminology.hl7.org/CodeSystem/v3-ActCode|EMER,http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP`,
  `MedicationRequest?patient=${patient}&status=active`,
  `MedicationStatement?subject=${patient}`,
  `Patient?_id=${id}`,
  `Patient?name=il6`,
];

it('answers as medplum matchesSearchRequest does, resource by resource', () => {
  expect(patients.length).toBeGreaterThan(50);
  let compared = 0;
  let matched = 0;
  for (const patient of patients.slice(0, 40)) {
    for (const query of queries(patient, patient.split('/')[1]!)) {
      const request = parseSearchRequest(query);
      const matcher = searchMatcher(request);
      for (const r of resources) {
        const expected = matchesSearchRequest(r, request);
        if (matcher(r) !== expected) throw new Error(`${query} on ${r.resourceType}/${r.id}: medplum says ${expected}`);
        compared++;
        if (expected) matched++;
      }
    }
  }
  expect(compared).toBeGreaterThan(100_000);
  expect(matched).toBeGreaterThan(1_000);
});
