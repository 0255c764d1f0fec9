/**
 * What a request that fails the CDS Hooks request schema is told: one issue per mistake, at the field at fault.
 * A field that may take one of several shapes (`prefetch.<key>`: null or a resource) is not also told that it
 * should have been another shape when it has the right one and is wrong inside.
 */
import { schemaIssues } from './validation';

const request = (prefetch: Record<string, unknown>) => ({
  hook: 'patient-view',
  hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
  context: { userId: 'Practitioner/1', patientId: 'p1' },
  prefetch,
});

const diagnostics = (prefetch: Record<string, unknown>) => schemaIssues('request', request(prefetch)).map((i) => [i.expression, i.diagnostics]);

it.each<[string, Record<string, unknown>, [string, string][]]>([
  ['a key with null and one with a resource: valid', { patient: null, observations: { resourceType: 'Bundle', entry: [] } }, []],
  [
    'a Bundle entry whose resource is null: that entry only',
    { observations: { resourceType: 'Bundle', entry: [{ resource: null }] } },
    [['prefetch.observations.entry[0].resource', 'prefetch.observations.entry[0].resource must be of type object.']],
  ],
  ['an object without resourceType: the missing field only', { patient: { id: 'p1' } }, [['prefetch.patient.resourceType', 'prefetch.patient.resourceType is required.']]],
  ['a lower-case resourceType: its form only', { patient: { resourceType: 'patient' } }, [['prefetch.patient.resourceType', 'prefetch.patient.resourceType must be a FHIR resource type such as Patient or Bundle.']]],
  ['an array (no shape fits): one issue naming both', { observations: [] }, [['prefetch.observations', 'prefetch.observations must be of type null or object.']]],
  [
    'two keys wrong: one issue each',
    { observations: 'none', conditions: { resourceType: 'Bundle', entry: 'x' } },
    [
      ['prefetch.observations', 'prefetch.observations must be of type null or object.'],
      ['prefetch.conditions.entry', 'prefetch.conditions.entry must be of type array.'],
    ],
  ],
])('%s', (_name, prefetch, expected) => {
  expect(diagnostics(prefetch)).toEqual(expected);
});

it.each([
  ['userId', 'Bob', 'context.userId must be a reference Type/id with Type one of Practitioner, PractitionerRole, Patient, RelatedPerson.'],
  ['patientId', 'p 1', 'context.patientId must be a FHIR id (1–64 letters, digits, "-" or ".").'],
])('context.%s %j: says what form it takes', (field, value, message) => {
  const body = request({});
  const issues = schemaIssues('request', { ...body, context: { ...body.context, [field]: value } });
  expect(issues.map((i) => i.diagnostics)).toEqual([message]);
});

it.each<[string, unknown, string]>([
  ['an empty feedback list', { feedback: [] }, 'feedback must not be empty.'],
  ['an empty card uuid', { feedback: [{ card: '', outcome: 'overridden', outcomeTimestamp: '2026-01-01T00:00:00Z' }] }, 'feedback[0].card must not be an empty text.'],
])('feedback: %s is named in plain words', (_name, body, message) => {
  expect(schemaIssues('feedback', body).map((i) => i.diagnostics)).toContain(message);
});
