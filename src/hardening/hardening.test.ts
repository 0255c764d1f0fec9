import type { FhirResource } from 'fhir/r4';
import { loadFhirR4Validators, screenResources } from './fhir-r4';
import { jsonShapeProblem } from './json-limits';

describe('jsonShapeProblem', () => {
  it('measures depth iteratively (no stack overflow on absurd nesting)', () => {
    expect(jsonShapeProblem({ a: [1, { b: 2 }] }, 3)).toBeUndefined();
    expect(jsonShapeProblem({ a: [1, { b: [] }] }, 3)).toEqual({ kind: 'depth', limit: 3 });
    expect(jsonShapeProblem(JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)), 64)).toEqual({ kind: 'depth', limit: 64 });
    expect(jsonShapeProblem('text', 1)).toBeUndefined();
    expect(jsonShapeProblem(null, 1)).toBeUndefined();
  });

  it('finds a __proto__ key at any depth', () => {
    expect(jsonShapeProblem(JSON.parse('{"a":[{"__proto__":{"x":1}}]}'), 64)).toEqual({ kind: 'proto-key' });
    expect(jsonShapeProblem(JSON.parse('{"constructor":{"prototype":{}}}'), 64)).toBeUndefined();
  });
});

describe('FHIR R4 screening', () => {
  it('keeps valid resources and reports the others with type, path and keyword', () => {
    const { valid, invalid } = screenResources([
      { resourceType: 'Patient', id: 'p1', birthDate: '1970-01-01' },
      { resourceType: 'Patient', id: 'p2', birthDate: '1970-13-01' },
      { resourceType: 'Observation', status: 'final', code: { text: 'x' }, component: [{ code: { text: 'c' }, valueQuantity: { value: 'x' } }] },
      { resourceType: '__proto__' },
      { resourceType: 'hasOwnProperty' },
      {},
    ] as unknown as FhirResource[]);
    expect(valid.map((r) => r.id)).toEqual(['p1']);
    expect(invalid).toEqual([
      { resourceType: 'Patient', path: '/birthDate', keyword: 'pattern' },
      { resourceType: 'Observation', path: '/component/*/valueQuantity/value', keyword: 'type' },
      { resourceType: '(invalid)', path: '/resourceType', keyword: 'unknown-resource-type' },
      { resourceType: 'hasOwnProperty', path: '/resourceType', keyword: 'unknown-resource-type' },
      { resourceType: '(invalid)', path: '/resourceType', keyword: 'unknown-resource-type' },
    ]);
  });

  it('a missing generated validator file fails with instructions, not a stack of require errors', () => {
    expect(() => loadFhirR4Validators('/nonexistent/generated/fhir-r4-validators.js')).toThrow(/have not been generated.*npm run build/);
  });

  it('validates all 146 R4 resource types', () => {
    expect(Object.keys(loadFhirR4Validators())).toHaveLength(146);
  });
});
