import { getResourceTypes, getSearchParameters } from '@medplum/core';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { isMatchableType } from './search';

const INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'] as const;

let resources: CapabilityStatementRestResource[] | undefined;

/**
 * A minimal CapabilityStatement. It lists per resource type only the search parameters this server
 * really applies (no quantity, number, composite; no `_include`), so clients can find out up front.
 */
export function capabilityStatement(baseUrl: string, tokenRequired: boolean): CapabilityStatement {
  resources ??= getResourceTypes()
    .sort()
    .map((type) => ({
      type,
      interaction: INTERACTIONS.map((code) => ({ code })),
      updateCreate: true,
      searchParam: Object.values(getSearchParameters(type) ?? {})
        .filter((p) => isMatchableType(p.type) && (p.url || p.code === '_id' || p.code === '_lastUpdated'))
        .map((p) => ({ name: p.code ?? '', type: p.type })),
    }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    software: { name: 'il6-cds test FHIR server (medplum MemoryRepository)' },
    implementation: { description: 'In-memory FHIR R4 server for tests, CLI and benchmarks', url: baseUrl },
    rest: [
      {
        mode: 'server',
        ...(tokenRequired ? { security: { description: 'Requires Authorization: Bearer <token>' } } : {}),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: resources,
      },
    ],
  };
}
