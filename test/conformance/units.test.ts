/** The suite's own rules, without a target: the query subset (item 9), prefetch tokens (item 8), `--only`, empty values. */
import { parseItemList } from '../../src/conformance';
import { emptyValues } from '../../src/conformance/context';
import { querySubset } from '../../src/conformance/discovery';
import { renderTemplate, tokenProblem } from '../../src/conformance/fhir';

describe('item 9: the recommended query subset', () => {
  it.each([
    'Patient/{{context.patientId}}',
    'Observation?patient={{context.patientId}}&code=http://loinc.org|26881-3,http://loinc.org|1988-5&_sort=-date&_count=500',
    'Condition?patient={{context.patientId}}&code:in=http://example.org/ValueSet/x',
    'Observation?subject={{context.patientId}}&date=ge2024-01-01&date=lt2025-01-01',
    'Encounter/{{context.encounterId}}',
    'Practitioner/{{userPractitionerId}}',
  ])('%s is within it', (t) => expect(querySubset(t)).toEqual({ problems: [], notes: [] }));

  it.each([
    ['Observation?patient={{context.patientId}}&sort:desc=date', /not R4 search syntax \(use _sort=-date\)/],
    ['Observation?patient={{context.patientId}}&code:text=il6', /modifier :text/],
    ['Observation?subject.name=smith', /chained parameter/],
    ['Observation?patient={{context.patientId}}&date=sa2024-01-01', /date prefix sa/],
    ['Observation?patient={{context.patientId}}&_has:Group:member:_id=1', /_has/],
    ['Observation?patient={{context.patientId}}&_count=all', /_count=all is not a number/],
    ['Observation?patient={{context.patientId}}&_sort=date desc', /not R4 _sort syntax/],
    ['https://ehr.example/fhir/Patient/{{context.patientId}}', /not a relative FHIR query/],
    ['Patient/{{context.patientId}}/$everything', /neither an instance read/],
  ])('%s strays from it', (t, problem) => expect(querySubset(t).problems.join('; ')).toMatch(problem));

  it('_include is outside the subset but only noted (most FHIR servers support it)', () => {
    expect(querySubset('MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication')).toEqual({
      problems: [],
      notes: ['_include is outside the CDS Hooks 2.0 recommended query subset (EHRs need not support it)'],
    });
  });
});

describe('item 8 and the prefetch the suite builds', () => {
  it('allows the patient-view context tokens and the four user tokens, nothing else', () => {
    for (const t of ['context.userId', 'context.patientId', 'context.encounterId', 'userPractitionerId', 'userPractitionerRoleId', 'userPatientId', 'userRelatedPersonId']) expect(tokenProblem(t)).toBeUndefined();
    expect(tokenProblem('context.draftOrders')).toMatch(/not a patient-view prefetch token/);
    expect(tokenProblem('today() - 90 days')).toMatch(/not a CDS Hooks 2.0 prefetch token/);
  });

  it('renders tokens URL-encoded, and leaves a key out when a token has no value in the request', () => {
    const ctx = { userId: 'Practitioner/dr 1', patientId: 'p/1' };
    expect(renderTemplate('Observation?patient={{context.patientId}}&performer={{userPractitionerId}}', ctx)).toEqual({ query: 'Observation?patient=p%2F1&performer=dr%201' });
    expect(renderTemplate('Encounter/{{context.encounterId}}', ctx)).toEqual({ unresolved: 'context.encounterId' });
    expect(renderTemplate('PractitionerRole/{{userPractitionerRoleId}}', ctx)).toEqual({ unresolved: 'userPractitionerRoleId' });
  });
});

it('--only takes items and ranges, and refuses anything else', () => {
  expect(parseItemList('1-3, 25,46')).toEqual([1, 2, 3, 25, 46]);
  expect(() => parseItemList('60')).toThrow(/item 60 is not on the checklist/);
  expect(() => parseItemList('5-2')).toThrow(/backwards/);
  expect(() => parseItemList('x')).toThrow(/not an item number/);
});

it('empty values are found at any depth', () => {
  expect(emptyValues({ a: { b: [] }, c: '', d: null, e: {}, f: [{ g: 1 }] })).toEqual(['$.a.b is []', '$.c is ""', '$.d is null', '$.e is {}']);
});
