/**
 * `activeWithin` (an item whose interval reaches into the last stretch before now) and notes that withhold a
 * card's suggestions: a small generic rule file, a marker that suggests a repeat and a treatment that, while
 * active or recently ended, makes the repeat pointless.
 */
import type { FhirResource } from 'fhir/r4';
import { renderCards } from '../cards/render';
import { evaluate } from './evaluate';
import { compileRuleFile } from './load';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const ruleSet = compileRuleFile(
  {
    id: 'active-within-test',
    name: 'Active within test',
    version: '1.0.0',
    label: 'Active within test',
    topicSystem: 'urn:test:finding',
    sources: { s: { citation: 'test' } },
    parameters: { washout: { value: '90 days', doc: 'washout' } },
    profiles: {},
    overrideReasons: [{ system: 'urn:test', code: 'no', display: 'No' }],
    codeSets: { m: [{ system: 'urn:test', code: 'm' }] },
    facts: {
      marker: { resourceTypes: ['Observation'], code: { path: 'code', in: ['m'] }, time: ['effective.ofType(dateTime)'] },
      treatment: {
        resourceTypes: ['MedicationStatement'],
        time: ['effective.ofType(Period).start'],
        end: ['effective.ofType(Period).end'],
        ongoing: "status = 'active'",
      },
    },
    notes: [
      {
        text: 'Treatment is on record: no repeat is suggested.',
        source: 's',
        when: [{ series: 'treatment', where: { activeWithin: '$washout' }, exists: true }],
        withholdSuggestions: true,
      },
    ],
    findings: [
      {
        code: 'repeat',
        display: 'Repeat',
        indicator: 'info',
        subject: { latest: 'marker' },
        when: [{ subject: {} }],
        card: { summary: 'repeat', suggestions: [{ label: 'Repeat', orders: [{ system: 'urn:test', code: 'm', display: 'marker' }] }] },
      },
    ],
  },
  'active-within-test.yaml',
);

function statement(status: string, start?: number, end?: number): FhirResource {
  const effectivePeriod = start === undefined && end === undefined ? undefined : { ...(start !== undefined ? { start: iso(start) } : {}), ...(end !== undefined ? { end: iso(end) } : {}) };
  return { resourceType: 'MedicationStatement', id: 't', status, subject: { reference: 'Patient/p' }, medicationCodeableConcept: { text: 'x' }, ...(effectivePeriod ? { effectivePeriod } : {}) } as FhirResource;
}

function card(treatment?: FhirResource) {
  const marker = { resourceType: 'Observation', id: 'm', status: 'final', code: { coding: [{ system: 'urn:test', code: 'm' }] }, effectiveDateTime: iso(NOW - 200 * DAY) } as FhirResource;
  const ev = evaluate(ruleSet, 'default', { resources: treatment ? [marker, treatment] : [marker], now: NOW });
  const [c] = renderCards(ev, { patientId: 'p' });
  return { withheld: c!.suggestions === undefined, noted: c!.detail!.includes('no repeat is suggested'), selectionBehavior: c!.selectionBehavior };
}

const withheld = { withheld: true, noted: true, selectionBehavior: undefined };
const offered = { withheld: false, noted: false, selectionBehavior: 'any' };

it.each([
  ['no treatment on record', undefined, offered],
  ['ended exactly 90 days ago', statement('completed', NOW - 150 * DAY, NOW - 90 * DAY), withheld],
  ['ended 90 days and 1 ms ago', statement('completed', NOW - 150 * DAY, NOW - 90 * DAY - 1), offered],
  ['ongoing, started a year ago', statement('active', NOW - 365 * DAY), withheld],
  ['ongoing with no dates (it may have started at any time)', statement('active'), withheld],
  ['not ongoing, no end: its start counts as its end (10 days ago)', statement('completed', NOW - 10 * DAY), withheld],
  ['not ongoing, no end, started 100 days ago', statement('completed', NOW - 100 * DAY), offered],
  ['starting tomorrow', statement('active', NOW + DAY), offered],
])('%s', (_name, treatment, want) => {
  expect(card(treatment)).toEqual(want);
});
