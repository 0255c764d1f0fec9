/**
 * The test server's repository answers searches from an index of references and with sort keys computed
 * once per resource; the answers must be exactly those of medplum's own MemoryRepository scanning every
 * resource: same entries, same order (ties included), same total, every page.
 */
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { fixtureResources, listFixtures } from '../fixtures/catalog';
import { TestServerRepository } from './backend';
import { ensureFhirSchemaIndexed } from './schema';

const scan = (repo: TestServerRepository, query: string) => MemoryRepository.prototype.search.call(repo, parseSearchRequest(query)) as Promise<Bundle>;
const ids = (b: Bundle) => (b.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

describe('TestServerRepository search', () => {
  const repo = new TestServerRepository();
  const patients: string[] = [];

  beforeAll(async () => {
    ensureFhirSchemaIndexed();
    const now = new Date(Date.UTC(2026, 5, 1));
    for (const fixture of listFixtures().slice(0, 60)) {
      for (const r of fixtureResources(fixture, now)) {
        await repo.createResource(r as unknown as Resource);
        if (r.resourceType === 'Patient') patients.push(`Patient/${r.id}`);
      }
    }
    // Ties: resources with the same date, created in an order that is not the order of their ids.
    for (const id of ['tie-c', 'tie-a', 'tie-b']) {
      await repo.createResource({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '26881-3' }] }, subject: { reference: patients[0]! }, effectiveDateTime: '2026-01-01T08:00:00Z' } as Resource);
    }
    // An update keeps its place in medplum's store and gets its new references indexed.
    const moved = (await repo.search(parseSearchRequest(`Observation?patient=${patients[1]}&_count=1`))).entry![0]!.resource!;
    await repo.updateResource({ ...moved, subject: { reference: patients[0]! } } as Resource);
  });

  const queries = (patient: string) => [
    `Observation?patient=${patient}&code=http://loinc.org|26881-3,http://loinc.org|30522-7&_sort=-date&_count=500`,
    `Observation?patient=${patient}&_sort=date`,
    `Observation?subject=${patient}&_sort=-date&_count=3&_offset=2`,
    `Condition?patient=${patient}&_count=500`,
    `Procedure?patient=${patient}&status=completed&_sort=-date&_count=200`,
    `Encounter?patient=${patient}&_sort=-date,status`,
    `MedicationRequest?patient=${patient}&_count=200`,
    `MedicationStatement?patient=${patient}&_sort=-effective`,
  ];

  it('answers every prefetch-like query exactly as medplum scanning every resource does', async () => {
    expect(patients.length).toBeGreaterThan(10);
    let nonEmpty = 0;
    for (const patient of patients) {
      for (const query of queries(patient)) {
        const indexed = await repo.search(parseSearchRequest(query));
        const scanned = await scan(repo, query);
        expect({ query, ids: ids(indexed), total: indexed.total }).toEqual({ query, ids: ids(scanned), total: scanned.total });
        expect(indexed.entry?.map((e) => e.resource)).toEqual(scanned.entry?.map((e) => e.resource));
        if (indexed.entry?.length) nonEmpty++;
      }
    }
    expect(nonEmpty).toBeGreaterThan(patients.length);
  });

  it('keeps the store order for ties, as medplum does, and returns copies', async () => {
    const query = `Observation?patient=${patients[0]}&_sort=-date`;
    const indexed = await repo.search(parseSearchRequest(query));
    const ties = ids(indexed).filter((id) => id.includes('/tie-'));
    expect(ties).toEqual(['Observation/tie-c', 'Observation/tie-a', 'Observation/tie-b']);
    const first = indexed.entry![0]!.resource! as unknown as Record<string, unknown>;
    const before = structuredClone(first);
    first.status = 'entered-in-error';
    expect((await repo.search(parseSearchRequest(query))).entry![0]!.resource).toEqual(before);
  });
});
