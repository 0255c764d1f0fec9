/**
 * A record dated after the evaluation has not happened yet: every fact excludes it ("dated after the time of this
 * evaluation"), with an hour's allowance for the EHR's clock running ahead. Checked on the shipped IL-6 rules, for
 * the IL-6 results (which have a look-back) and the CRPs that pair with them (which do not).
 */
import path from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { renderCards } from '../cards/render';
import { evaluate } from './evaluate';
import { loadRuleFile } from './load';

const ruleSet = loadRuleFile(path.join(__dirname, '../../cds-services/il6-inflammation/rules.yaml'));
const NOW = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

function obs(id: string, loinc: string, value: number, unit: string, at: number): FhirResource {
  return {
    resourceType: 'Observation', id, status: 'final', subject: { reference: 'Patient/p' },
    code: { coding: [{ system: 'http://loinc.org', code: loinc }] },
    effectiveDateTime: new Date(at).toISOString(),
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  } as FhirResource;
}

function run(...resources: FhirResource[]) {
  const ev = evaluate(ruleSet, 'default', { resources, now: NOW });
  const excluded = (fact: string, id: string) => ev.factItems(fact).find((i) => i.resource.id === id)?.excluded;
  return { ev, excluded, cards: renderCards(ev, { patientId: 'p' }) };
}

it('an IL-6 result dated three days ahead is excluded and reported; the earlier one is the latest', () => {
  const { excluded, cards } = run(obs('old', '26881-3', 5.1, 'pg/mL', NOW - 2 * 24 * HOUR), obs('ahead', '26881-3', 9.5, 'pg/mL', NOW + 72 * HOUR));
  expect(excluded('il6', 'ahead')).toBe('dated after the time of this evaluation');
  expect(cards.find((c) => c.source.topic?.code === 'il6-unconfirmed')?.summary).toContain('5.1 pg/mL');
});

it('an hs-CRP dated three days ahead does not pair: no usable hs-CRP, and it is listed as not used', () => {
  const { excluded, cards } = run(obs('il6', '26881-3', 5.1, 'pg/mL', NOW - HOUR), obs('crp', '30522-7', 1.0, 'mg/L', NOW + 72 * HOUR));
  expect(excluded('crp', 'crp')).toBe('dated after the time of this evaluation');
  const pairing = cards.find((c) => c.source.topic?.code === 'il6-hscrp')!;
  expect(pairing.summary).toContain('no hs-CRP within 7 days');
  expect(pairing.detail).toContain('dated after the time of this evaluation');
});

it('within the hour allowed for clock skew, an hs-CRP dated ahead still pairs', () => {
  const { excluded, cards } = run(obs('il6', '26881-3', 5.1, 'pg/mL', NOW - HOUR), obs('crp', '30522-7', 1.0, 'mg/L', NOW + 30 * 60_000));
  expect(excluded('crp', 'crp')).toBeUndefined();
  expect(cards.find((c) => c.source.topic?.code === 'il6-hscrp')?.summary).toContain('normal');
});
