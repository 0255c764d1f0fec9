import { renderTemplate, templateTokens, tokenProblem } from './template';

const ctx = { userId: 'Practitioner/dr-1', patientId: 'pat 1/x', encounterId: 'enc.9' };

describe('prefetch tokens (CDS Hooks 2.0 §prefetch-tokens)', () => {
  it.each([
    ['Patient/{{context.patientId}}', 'Patient/pat%201%2Fx'],
    ['Observation?patient={{context.patientId}}&encounter={{context.encounterId}}', 'Observation?patient=pat%201%2Fx&encounter=enc.9'],
    ['Practitioner/{{userPractitionerId}}', 'Practitioner/dr-1'],
    ['Practitioner/{{ userPractitionerId }}', 'Practitioner/dr-1'],
    ['Patient?_id={{context.userId}}', 'Patient?_id=Practitioner%2Fdr-1'],
  ])('%s → %s (values URL-encoded)', (template, query) => {
    expect(renderTemplate(template, ctx)).toEqual({ query });
  });

  it('a token without a value in this request leaves the key unresolvable, named', () => {
    expect(renderTemplate('Encounter/{{context.encounterId}}', { userId: 'Practitioner/1', patientId: 'p' })).toEqual({ unresolved: 'context.encounterId' });
    expect(renderTemplate('PractitionerRole/{{userPractitionerRoleId}}', ctx)).toEqual({ unresolved: 'userPractitionerRoleId' });
    expect(renderTemplate('Patient/{{userPatientId}}', { userId: 'Patient/me', patientId: 'me' })).toEqual({ query: 'Patient/me' });
    expect(renderTemplate('RelatedPerson/{{userRelatedPersonId}}', { userId: 'RelatedPerson/rp1', patientId: 'p' })).toEqual({ query: 'RelatedPerson/rp1' });
  });

  it('lists and checks tokens', () => {
    expect(templateTokens('A?x={{context.patientId}}&y={{userPatientId}}')).toEqual(['context.patientId', 'userPatientId']);
    expect(tokenProblem('context.patientId')).toBeUndefined();
    expect(tokenProblem('userRelatedPersonId')).toBeUndefined();
    expect(tokenProblem('context.selections')).toMatch(/not a patient-view prefetch token/);
    expect(tokenProblem('today()')).toMatch(/not a CDS Hooks 2.0 prefetch token/);
  });
});
