/**
 * The compiled fast path must give exactly what fhirpath.js gives: every FHIRPath expression of the shipped
 * rule files, on every fixture resource and on dozens of mutations of each (missing elements, wrong types,
 * repeated codings, other choice types, odd statuses).
 */
import path from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { fixtureResources, listFixtures } from '../fixtures/catalog';
import { compileFast, Fallback } from './fhirpath-fast';
import { compileFhirPathInterpreted, POOL_VAR } from './fhirpath';
import { loadRuleFile } from './load';

const ruleSets = [
  loadRuleFile(path.join(__dirname, '../../cds-services/il6-inflammation/rules.yaml')),
  loadRuleFile(path.join(__dirname, '../../test/fixtures/services/hscrp-advisor/rules.yaml')),
];
const resources = listFixtures().flatMap((f) => fixtureResources(f, new Date(Date.UTC(2026, 5, 1))));
const medication = resources.find((r) => r.resourceType === 'Medication')!;
const patient = resources.find((r) => r.resourceType === 'Patient')!;
// A Medication whose code repeats among its ingredients (unions de-duplicate it), next to near-duplicates.
const rxnorm = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const repeated = {
  resourceType: 'Medication',
  id: 'fast-path-repeated',
  code: { coding: [{ system: rxnorm, code: '612865', display: 'tocilizumab' }] },
  ingredient: [
    { itemCodeableConcept: { coding: [{ system: rxnorm, code: '612865', display: 'tocilizumab' }] } },
    { itemCodeableConcept: { coding: [{ display: 'tocilizumab', code: '612865', system: rxnorm }] } },
    { itemCodeableConcept: { coding: [{ system: rxnorm, code: '612865', display: 'Tocilizumab' }] } },
    { itemCodeableConcept: { coding: [{ system: rxnorm, code: '612865' }], text: 'tocilizumab' } },
  ],
} as FhirResource;
const numeric = { ...repeated, id: 'fast-path-numeric', code: { coding: [{ code: 1.5 }] }, ingredient: [{ itemCodeableConcept: { coding: [{ code: 1.50000000001 }] } }] } as unknown as FhirResource;

function mutations(r: FhirResource): unknown[] {
  const base = r as unknown as Record<string, unknown>;
  const out: Record<string, unknown>[] = [];
  for (const key of Object.keys(base)) if (key !== 'resourceType') out.push(Object.fromEntries(Object.entries(base).filter(([k]) => k !== key)));
  const variants: Record<string, unknown>[] = [
    { status: 'preliminary' },
    { status: 'entered-in-error' },
    { status: 5 },
    { status: ['final', 'amended'] },
    { status: '' },
    { code: { coding: [{ system: 'http://loinc.org', code: '26881-3' }, { system: 'http://loinc.org', code: '26881-3' }] } },
    { code: { coding: [{ code: '26881-3' }], text: 'IL-6' } },
    { code: { coding: { system: 'http://loinc.org', code: '26881-3' } } },
    { code: 'IL-6' },
    { effectiveDateTime: undefined, effectivePeriod: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' } },
    { effectiveDateTime: undefined, effectiveInstant: '2026-01-01T00:00:00.000Z' },
    { effectiveDateTime: 20260101 },
    { valueQuantity: undefined, valueString: '<1.5 pg/mL' },
    { valueQuantity: undefined, valueCodeableConcept: { text: 'detected' } },
    { valueQuantity: { value: '5', unit: 'pg/mL' } },
    { dataAbsentReason: { coding: [{ code: 'error' }] } },
    { verificationStatus: { coding: [{ code: 'refuted' }, { code: 'confirmed' }] } },
    { verificationStatus: { coding: [{ code: 'refuted', system: 5 }] } },
    { clinicalStatus: { coding: [{ code: 'active' }, { code: 'resolved' }] } },
    { class: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' }] },
    { class: { code: 'IMP' } },
    { category: [{ coding: [{ system: 'http://snomed.info/sct', code: '387713003' }] }] },
    { performer: [{ display: 'Lab A' }, { display: 'Lab A' }, { reference: 'Organization/b' }] },
    { performer: [{ reference: 'Practitioner/p1' }, { type: 'Organization', display: 'Lab T' }, { reference: 'https://ehr.example.org/fhir/Organization/o1' }, { type: 'Practitioner', display: 'Dr A' }] },
    { performer: [{ reference: 'https://ehr.example.org/fhir/Organization/o1/_history/2' }] },
    { performer: [{ reference: 'Organization/o1/_history/2' }, { reference: 'urn:uuid:9d1c0e0a-5b7e-4a53-9f44-2f7f3c7c1a11' }] },
    { performer: [{ reference: 5 }, { reference: '#lab' }] },
    { valueQuantity: { value: -5, unit: 'pg/mL', system: 'http://unitsofmeasure.org', code: 'pg/mL' } },
    { valueQuantity: { value: 0, unit: 'pg/mL' } },
    { valueQuantity: { value: -0.0001 } },
    { method: { text: 'ECLIA' } },
    { gender: 'female' },
    { gender: ['male'] },
    { referenceRange: [{ high: { value: 7, unit: 'pg/mL', code: 'pg/mL' } }, { low: { value: 1, code: 'ng/L' } }] },
    { onsetDateTime: undefined, onsetPeriod: { start: '2026-01-01' } },
    { onsetDateTime: undefined, onsetString: 'last week' },
    { abatementDateTime: '2026-02-01T00:00:00Z' },
    { period: { start: '2026-01-01T00:00:00Z' } },
    { performedDateTime: undefined, performedPeriod: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T04:00:00Z' } },
    // Medications: deref() to a Medication, to another type, to nothing; names in text and displays.
    { medicationCodeableConcept: { text: 'ACTEMRA 162 MG/0.9 ML' } },
    { medicationCodeableConcept: { coding: [{ display: 'Tocilizumab' }, { display: 'tocilizumab' }], text: 'tocilizumab' } },
    { medicationCodeableConcept: { text: 5 } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: `Medication/${medication.id}` } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: `https://ehr.example.org/fhir/Medication/${medication.id}` } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: `Patient/${patient.id}` } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: 'Medication/missing' } },
    { medicationCodeableConcept: undefined, medicationReference: { display: 'sarilumab' } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: 'Medication/fast-path-repeated' } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: 'Medication/fast-path-numeric' } },
    // Versioned references, and contained Medications (`#id`), which only fhirpath.js resolves.
    { medicationCodeableConcept: undefined, medicationReference: { reference: `Medication/${medication.id}/_history/2` } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: `https://ehr.example.org/fhir/Medication/${medication.id}/_history/1` } },
    { medicationCodeableConcept: undefined, medicationReference: { reference: '#med1' }, contained: [{ ...repeated, id: 'med1' }] },
    { medicationCodeableConcept: undefined, medicationReference: { reference: '#other' }, contained: [{ ...repeated, id: 'med1' }] },
    { medicationCodeableConcept: undefined, medicationReference: { reference: '#med1' } },
    // Elements some types lack (MedicationStatement.authoredOn, MedicationRequest.effective[x]).
    { authoredOn: '2026-01-01T00:00:00Z' },
    { effectivePeriod: { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' } },
    { dispenseRequest: { validityPeriod: { end: '2026-03-01T00:00:00Z' } } },
  ];
  for (const v of variants) out.push({ ...base, ...v });
  return [base, ...out];
}

describe('compiled FHIRPath equals fhirpath.js', () => {
  const inputs = resources.flatMap(mutations);
  const types = [...new Set(resources.map((r) => r.resourceType))];
  const pool = new Map([...resources, repeated, numeric].filter((r) => r.id).map((r) => [`${r.resourceType}/${r.id}`, r]));

  for (const rs of ruleSets) {
    const profile = rs.profiles.default!;
    const env = { ...profile.numbers, ...rs.codeSets, patient: resources.find((r) => r.resourceType === 'Patient'), [POOL_VAR]: pool };

    it.each(rs.expressions.map((e) => [e] as const))(`${rs.id}: %s`, (expression) => {
      const slow = compileFhirPathInterpreted(expression);
      let compared = 0;
      for (const type of types) {
        const fast = compileFast(expression, type);
        if (!fast) continue;
        for (const input of inputs.filter((x) => (x as { resourceType: string }).resourceType === type)) {
          let want: unknown;
          try {
            want = slow(input, env);
          } catch {
            want = 'error';
          }
          let got: unknown;
          try {
            got = fast(input, env);
          } catch (err) {
            if (err instanceof Fallback) continue;
            got = 'error';
          }
          expect({ input, result: got }).toEqual({ input, result: want });
          compared++;
        }
      }
      // Recorded, not asserted: an expression outside the subset is always interpreted.
      expect(compared).toBeGreaterThanOrEqual(0);
    });
  }

  it('every expression of the shipped rule files compiles for some resource type: none is left to fhirpath.js', () => {
    const types = ['Observation', 'Condition', 'Encounter', 'Procedure', 'MedicationRequest', 'MedicationStatement', 'Medication', 'Patient'];
    for (const rs of ruleSets) {
      const interpreted = rs.expressions.filter((e) => types.every((t) => compileFast(e, t) === undefined));
      expect({ ruleSet: rs.id, interpreted }).toEqual({ ruleSet: rs.id, interpreted: [] });
    }
  });

  it('the hot expressions of the IL-6 rules do compile (time, value, code, status tests, labels)', () => {
    for (const e of ['effective.ofType(dateTime)', 'effective.ofType(Period).start', 'issued', 'value', 'code', "(status in ('final' | 'amended' | 'corrected')).not()", "code.coding.where(system = 'http://loinc.org' and code = '26881-3').empty()", "'IL-6'", 'onset.ofType(dateTime)', "verificationStatus.coding.where(code in ('refuted' | 'entered-in-error')).empty()"]) {
      expect(rules().expressions).toContain(e);
      expect(compileFast(e, e.startsWith('onset') || e.startsWith('verification') ? 'Condition' : 'Observation')).toBeDefined();
    }
  });

  it('the medication expressions of the IL-6 rules compile too (deref, select, lower, matches, elements a type lacks)', () => {
    const medicationExpressions = rules().expressions.filter((e) => /medication\.|authoredOn|dispenseRequest|dosageInstruction/.test(e));
    expect(medicationExpressions.length).toBeGreaterThanOrEqual(5);
    for (const e of medicationExpressions) {
      for (const type of ['MedicationRequest', 'MedicationStatement']) expect({ e, type, compiled: compileFast(e, type) !== undefined }).toEqual({ e, type, compiled: true });
    }
  });

  it('literals and unions of literals are built once, at compile time; results are shared and read-only', () => {
    const list = compileFast("'final' | 'amended' | 'final'", 'Observation')!;
    const first = list({ resourceType: 'Observation' }, {});
    expect(first).toEqual(['final', 'amended']);
    expect(list({ resourceType: 'Observation', status: 'final' }, {})).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // A membership test against it compares with the folded list; its answers are the shared true/false.
    const test = compileFast("status in ('final' | 'amended')", 'Observation')!;
    const yes = test({ resourceType: 'Observation', status: 'amended' }, {});
    expect(yes).toEqual([true]);
    expect(test({ resourceType: 'Observation', status: 'final' }, {})).toBe(yes);
    expect(test({ resourceType: 'Observation', status: 'draft' }, {})).toEqual([false]);
    expect(() => (yes as unknown[]).push(false)).toThrow(TypeError);
    // A value of another type than the list's still goes to fhirpath.js.
    expect(() => test({ resourceType: 'Observation', status: 5 }, {})).toThrow(Fallback);
  });

  it('refuses what it cannot reproduce exactly (dates compared with =, decimals, type filters, deref of a non-resource, patterns that are not literals)', () => {
    for (const e of ["effective.ofType(dateTime) = '2026-01-01'", 'value.ofType(Quantity).value = 5.0', 'Observation.status', 'subject.deref()', 'code.text.matches(%pattern)', 'code.text.upper()']) {
      expect(compileFast(e, 'Observation')).toBeUndefined();
    }
  });
});

function rules() {
  return ruleSets[0]!;
}
