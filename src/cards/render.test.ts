/**
 * Text from the patient's record (display strings, units, statuses) must not be able to inject Markdown or
 * HTML into the EHR: the CDS Hooks sandbox renders card detail with raw HTML enabled.
 */
import path from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { evaluate } from '../engine/evaluate';
import { compileRuleFile, loadRuleFile } from '../engine/load';
import { escapeMarkdown, readableText } from './markdown';
import { renderCards } from './render';

const rules = loadRuleFile(path.join(__dirname, '../../cds-services/il6-inflammation/rules.yaml'));
const DAY = 86_400_000;
const now = Date.UTC(2026, 5, 1, 12);
const iso = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
const hostile = '<img src=x onerror=alert(1)> [click](javascript:alert(1)) ![x](http://evil/x.png) | **bold** `code`';

const il6 = (id: string, daysAgo: number, value: number, extra: Record<string, unknown> = {}): FhirResource =>
  ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '26881-3' }] },
    subject: { reference: 'Patient/p' },
    effectiveDateTime: iso(daysAgo),
    valueQuantity: { value, unit: 'pg/mL', system: 'http://unitsofmeasure.org', code: 'pg/mL' },
    ...extra,
  }) as FhirResource;

/** A body temperature of 38.6 Cel at `effectiveDateTime`. */
const fever = (effectiveDateTime: string): FhirResource =>
  ({
    resourceType: 'Observation',
    id: 'fever',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] },
    subject: { reference: 'Patient/p' },
    effectiveDateTime,
    valueQuantity: { value: 38.6, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
  }) as FhirResource;

describe('cards escape text that came from the record', () => {
  const resources: FhirResource[] = [
    { resourceType: 'Patient', id: 'p' },
    il6('a', 5, 5.2),
    il6('b', 40, 4.0, { status: hostile }),
    il6('c', 60, 4.4, { valueQuantity: { value: 4.4, unit: hostile } }),
    {
      resourceType: 'Condition',
      id: 'cond',
      clinicalStatus: { coding: [{ code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '233604007', display: hostile }], text: hostile },
      subject: { reference: 'Patient/p' },
      onsetDateTime: iso(7),
    },
  ];
  const cards = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' });
  const detail = cards.map((c) => c.detail ?? '').join('\n');

  it('the hostile strings reached the cards (confounder label, exclusion reason, unit)', () => {
    expect(cards.map((c) => c.source.topic?.code)).toContain('il6-confounded');
    expect(readableText(detail)).toContain('<img src=x onerror=alert(1)>');
  });

  it('no raw HTML tag, Markdown link, image or table cell break from the record survives', () => {
    expect(detail).not.toMatch(/<img/i);
    expect(detail).not.toMatch(/(^|[^\\])\[click\]\(javascript:/);
    expect(detail).not.toMatch(/(^|[^\\])!\[x\]\(/);
    expect(detail).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(detail).toContain('\\[click\\](javascript:alert(1))');
    expect(detail).toContain('\\| \\*\\*bold\\*\\* \\`code\\`');
  });

  it('summaries (plain text) carry no angle brackets or line breaks from the record', () => {
    for (const c of cards) expect(c.summary).not.toMatch(/[<>\n]/);
  });

  it('escapeMarkdown flattens control characters and escapes every special character', () => {
    expect(escapeMarkdown('a\nb\u0000c')).toBe('a b c');
    expect(escapeMarkdown('#1 & <b>')).toBe('\\#1 &amp; &lt;b&gt;');
    expect(readableText(escapeMarkdown(hostile))).toBe(hostile);
  });
});

describe('cards show dates as the record wrote them', () => {
  // 20:30 in UTC−08:00 is 04:30 UTC the next day: the clinician's chart says the 10th.
  const resources: FhirResource[] = [
    { resourceType: 'Patient', id: 'p' },
    il6('late', 0, 8.4, { effectiveDateTime: '2026-05-10T20:30:00-08:00' }),
    fever('2026-05-10T18:00:00-08:00'),
  ];
  const cards = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' });
  const confounded = cards.find((c) => c.source.topic?.code === 'il6-confounded')!;

  it('the summary and the detail name the local date, not the UTC one', () => {
    expect(confounded.summary).toContain('on 2026-05-10');
    expect(readableText(confounded.detail ?? '')).toContain('| 2026-05-10 |');
    expect(readableText(confounded.detail ?? '')).not.toContain('2026-05-11');
  });

  it('times where the hour matters keep their offset', () => {
    expect(readableText(confounded.detail ?? '')).toContain('fever: body temperature 38.6 °C on 2026-05-10 18:00 UTC-08:00');
  });
});

describe('a result that is not graded shows no tier', () => {
  const cardsFor = (resources: FhirResource[]) => renderCards(evaluate(rules, 'default', { resources: [{ resourceType: 'Patient', id: 'p' }, ...resources], now, patientId: 'p' }), { patientId: 'p' });
  const header = (detail: string | undefined) => /\*\*Results used\*\*\n\n(\|.*\|)\n/.exec(detail ?? '')?.[1];

  it('a confounded result (not a baseline) has no Tier column; an unconfirmed one has', () => {
    const confounded = cardsFor([il6('drawn-febrile', 1, 8.4), fever(iso(1))]).find((c) => c.source.topic?.code === 'il6-confounded')!;
    expect(header(confounded.detail)).toBe('| Test | Date | Value | As reported |');
    expect(confounded.detail).not.toContain('| significant |');
    const unconfirmed = cardsFor([il6('stable', 1, 8.4)]).find((c) => c.source.topic?.code === 'il6-unconfirmed')!;
    expect(header(unconfirmed.detail)).toBe('| Test | Date | Value | As reported | Tier |');
  });

  it('the pairing card beside a confounded card does not grade the result either; beside none it does', () => {
    const crp = (id: string, daysAgo: number): FhirResource =>
      ({ ...il6(id, daysAgo, 5), code: { coding: [{ system: 'http://loinc.org', code: '30522-7' }] }, valueQuantity: { value: 5, unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' } }) as FhirResource;
    const pairing = (resources: FhirResource[]) => cardsFor(resources).find((c) => c.source.topic?.code === 'il6-hscrp')!.detail ?? '';
    const confounded = pairing([il6('drawn-febrile', 1, 8.4), fever(iso(1)), crp('crp', 1)]);
    expect(confounded).toMatch(/\| IL-6 \| [^|]+ \| 8\.4 pg\/mL \| 8\.4 pg\/mL \| not graded \(confounders\) \|/);
    expect(confounded).not.toContain('| significant |');
    expect(pairing([il6('stable', 1, 8.4), crp('crp', 1)])).toMatch(/\| IL-6 \| [^|]+ \| 8\.4 pg\/mL \| 8\.4 pg\/mL \| significant \|/);
  });
});

describe('the lab/method note compares labs, not how a result names them', () => {
  const note = 'different laboratories or methods';
  /** The persistent and trend cards' text for three rising results from the performers given. */
  const cardsText = (...performers: unknown[][]) => {
    const resources = performers.map((performer, n) => il6(`lab-${n}`, 140 - 60 * n, 3.5 + 2 * n, { performer }));
    return renderCards(evaluate(rules, 'default', { resources: [{ resourceType: 'Patient', id: 'p' }, ...resources], now, patientId: 'p' }), { patientId: 'p' })
      .filter((c) => ['il6-persistent', 'il6-trend'].includes(c.source.topic!.code!))
      .map((c) => c.detail ?? '');
  };
  const one = { reference: 'Organization/lab1' };

  it('one lab named twice on a result, once with a version, is one lab', () => {
    const details = cardsText([one], [one, { reference: 'Organization/lab1/_history/2' }], [{ reference: 'Organization/lab1/_history/3' }]);
    expect(details).toHaveLength(2);
    for (const d of details) expect(d).not.toContain(note);
  });

  it('Organization/1 on two servers is two labs', () => {
    const a = { reference: 'https://a.example/fhir/Organization/1' };
    const details = cardsText([a], [{ reference: 'https://b.example/fhir/Organization/1' }], [a]);
    expect(details).toHaveLength(2);
    for (const d of details) expect(d).toContain(note);
  });
});

describe('dates are shown at the precision the record gives', () => {
  const resources: FhirResource[] = [
    { resourceType: 'Patient', id: 'p' },
    il6('draw', 0, 8.4, { effectiveDateTime: '2026-05-10T09:00:00Z' }),
    fever('2026-05-09'), // a date only: no hour is made up for it
    // Pneumonia with an onset month and an abatement day: "2026-05" is not the 1st of May.
    {
      resourceType: 'Condition',
      id: 'pneumonia',
      clinicalStatus: { coding: [{ code: 'resolved' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '233604007' }], text: 'Pneumonia' },
      subject: { reference: 'Patient/p' },
      onsetDateTime: '2026-05',
      abatementDateTime: '2026-05-08',
    } as FhirResource,
  ];
  const cards = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' });
  const detail = readableText(cards.find((c) => c.source.topic?.code === 'il6-confounded')?.detail ?? '');

  it('a date without a time of day is shown without one', () => {
    expect(detail).toContain('fever: body temperature 38.6 °C on 2026-05-09');
    expect(detail).not.toContain('2026-05-09 00:00');
  });

  it('a month stays a month; the end keeps its own precision', () => {
    expect(detail).toMatch(/Pneumonia from 2026-05 to 2026-05-08/);
    expect(detail).not.toContain('2026-05-01');
  });
});

describe('results not used are listed newest first, so the cap hides the oldest', () => {
  // Eleven withdrawn results 200–300 days ago and a preliminary one 3 days ago, besides the result the card is about.
  const withdrawn = Array.from({ length: 11 }, (_, n) => il6(`old${n}`, 300 - 10 * n, 4.0 + n / 10, { status: 'entered-in-error' }));
  const resources: FhirResource[] = [{ resourceType: 'Patient', id: 'p' }, ...withdrawn, il6('prelim', 3, 12, { status: 'preliminary' }), il6('latest', 1, 4.2)];
  const card = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' }).find((c) => c.source.topic?.code === 'il6-unconfirmed')!;
  const notUsed = readableText(card.detail!).split('**Not used (12 results)**')[1]!.split('**Guidance**')[0]!.trim().split('\n');

  it('the most recent exclusion comes first and the oldest ones fall under "… and N more"', () => {
    expect(notUsed[0]).toMatch(/^- \d{4}-\d{2}-\d{2}.* — IL-6 12 pg\/mL: status preliminary$/);
    expect(notUsed).toHaveLength(11);
    expect(notUsed[10]).toBe('- … and 2 more, older or undated');
    // The two left out are the two oldest withdrawn results (4.0 and 4.1 pg/mL).
    expect(notUsed.join('\n')).toContain('IL-6 4.2 pg/mL: status entered-in-error');
    expect(notUsed.join('\n')).not.toContain('IL-6 4.1 pg/mL');
    expect(notUsed.join('\n')).not.toContain('IL-6 4 pg/mL');
  });
});

describe('a summary that would be too long names fewer confounders instead of losing its advice', () => {
  const obs = (id: string, loinc: string, hoursBefore: number, value: number, unit: string): FhirResource =>
    ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: loinc }] },
      subject: { reference: 'Patient/p' },
      effectiveDateTime: new Date(now - 5 * DAY - hoursBefore * 3_600_000).toISOString(),
      valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    }) as FhirResource;
  // Every confounder of clinical-rules §3 around an IL-6 drawn 5 days ago.
  const resources: FhirResource[] = [
    { resourceType: 'Patient', id: 'p' },
    il6('draw', 5, 5.2),
    {
      resourceType: 'Condition',
      id: 'sepsis',
      clinicalStatus: { coding: [{ code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '91302008', display: 'Sepsis' }] },
      subject: { reference: 'Patient/p' },
      onsetDateTime: iso(8),
    },
    obs('temp', '8310-5', 6, 38.6, 'Cel'),
    { resourceType: 'Encounter', id: 'er', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' }, subject: { reference: 'Patient/p' }, period: { start: iso(7), end: iso(6) } },
    { resourceType: 'Procedure', id: 'op', status: 'completed', category: { coding: [{ system: 'http://snomed.info/sct', code: '387713003' }] }, code: { text: 'Appendectomy' }, subject: { reference: 'Patient/p' }, performedDateTime: iso(9) },
    obs('run', '55411-3', 12, 90, 'min'),
    obs('night', '93832-4', 8, 4, 'h'),
    obs('crp', '1988-5', 2, 25, 'mg/L'),
  ] as FhirResource[];
  const card = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' }).find((c) => c.source.topic?.code === 'il6-confounded')!;

  it('keeps the advice at the end and counts the confounders it does not name; the detail names them all', () => {
    expect(card.summary.length).toBeLessThan(140);
    expect(card.summary).toMatch(/^IL-6 5\.2 pg\/mL on \d{4}-\d{2}-\d{2} may reflect an acute state \(.+ \+\d more\): repeat when stable$/);
    const named = card.summary.split('(')[1]!.split(' +')[0]!.split(', ');
    const more = Number(/\+(\d) more/.exec(card.summary)![1]);
    const detail = readableText(card.detail!);
    const listed = ['acute illness', 'fever', 'emergency or inpatient stay', 'recent surgery', 'intense exercise', 'poor sleep', 'acute-phase CRP'];
    for (const label of listed) expect(detail).toContain(`- ${label}:`);
    expect(named.length + more).toBeGreaterThanOrEqual(listed.length);
  });
});

describe('a record with hundreds of matches or very long text still gives a card of readable size', () => {
  const long = (n: number) => `Condition ${n} ${'with a very long name '.repeat(100)}`;
  const condition = (id: string, code: string, daysAgo: number, text: string): FhirResource =>
    ({
      resourceType: 'Condition',
      id,
      clinicalStatus: { coding: [{ code: 'active' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code }], text },
      subject: { reference: 'Patient/p' },
      onsetDateTime: iso(daysAgo),
    }) as FhirResource;
  const resources: FhirResource[] = [
    { resourceType: 'Patient', id: 'p' },
    il6('draw', 1, 12),
    il6('earlier', 60, 9),
    // 200 acute illnesses around the draw, and 40 autoimmune conditions on file.
    ...Array.from({ length: 200 }, (_, n) => condition(`acute${n}`, '91302008', 2 + (n % 10), long(n))),
    ...Array.from({ length: 40 }, (_, n) => condition(`ra${n}`, '69896004', 400 + n, long(n))),
    il6('odd-unit', 30, 4, { valueQuantity: { value: 4, unit: 'x'.repeat(10_000) } }),
  ];
  const cards = renderCards(evaluate(rules, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' });
  const confounded = readableText(cards.find((c) => c.source.topic?.code === 'il6-confounded')!.detail!);

  it('names at most 5 matches of each kind, the latest first, and counts the rest', () => {
    const lines = confounded.split('\n').filter((l) => l.startsWith('- acute illness') || l.startsWith('- ongoing or recently resolved acute illness'));
    expect(lines).toHaveLength(12);
    expect(lines).toContain('- acute illness: … and 195 more, earlier');
    expect(lines).toContain('- ongoing or recently resolved acute illness: … and 195 more, earlier');
    expect(lines[0]).toContain(`on ${iso(2).slice(0, 10)}`);
  });

  it('clips text from the record to 200 characters, and keeps every card detail under 20 kB', () => {
    // "Condition 0 " and 8 of the 22-character repeats fit in 199 characters; then "…".
    expect(confounded).toContain(`Condition 0 ${'with a very long name '.repeat(8)}with a very… on`);
    expect(confounded).not.toContain(`Condition 0 ${'with a very long name '.repeat(9)}`);
    for (const c of cards) expect(c.detail!.length).toBeLessThan(20_000);
    const notUsed = readableText(cards.map((c) => c.detail).join('\n')).split('\n').find((l) => l.includes('xxxx'))!;
    expect(notUsed).toMatch(/IL-6: unit x+… is not one the rules read/);
    expect(notUsed.length).toBeLessThan(400);
  });

  it('names at most 5 known conditions of a category and counts the rest', () => {
    const stable = resources.filter((r) => !r.id!.startsWith('acute'));
    const persistent = renderCards(evaluate(rules, 'default', { resources: stable, now, patientId: 'p' }), { patientId: 'p' }).find((c) => c.source.topic?.code === 'il6-persistent')!;
    const known = readableText(persistent.detail!).split('\n').find((l) => l.startsWith('**Known:**'))!;
    expect(known.match(/\(since \d{4}\)/g)).toHaveLength(5);
    expect(known).toMatch(/\(since \d{4}\), and 35 more — /);
  });
});

describe('a suggestion not offered because its test is on file says so, unless the card offers no orders at all', () => {
  const hsCrp: FhirResource = {
    resourceType: 'Observation',
    id: 'hscrp',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '30522-7' }] },
    subject: { reference: 'Patient/p' },
    effectiveDateTime: iso(3),
    valueQuantity: { value: 2.4, unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' },
  } as FhirResource;
  const resources: FhirResource[] = [{ resourceType: 'Patient', id: 'p' }, il6('a', 60, 4.8), il6('b', 5, 5.1), hsCrp];
  const persistentCard = (ruleSet: typeof rules) =>
    renderCards(evaluate(ruleSet, 'default', { resources, now, patientId: 'p' }), { patientId: 'p' }).find((c) => c.source.topic?.code === 'il6-persistent')!;

  it('cites the hs-CRP on file under "Not suggested" and in "Results used", and orders the rest of the work-up', () => {
    const card = persistentCard(rules);
    const text = readableText(card.detail!);
    expect(text).toContain(`- hs-CRP: 2.4 mg/L on ${iso(3).slice(0, 10)} is on file, within 7 days of the latest IL-6 result and 30 days of today.`);
    expect(text).toMatch(/\| hs-CRP \| \d{4}-\d\d-\d\d \| 2\.4 mg\/L \| 2\.4 mg\/L \| — \|/);
    expect(card.suggestions!.map((s) => s.label)).toEqual(['Order fibrinogen', 'Order ESR', 'Order CBC with differential']);
  });

  it('says nothing of it when a note withholds every order', () => {
    const def = structuredClone(rules.def);
    def.notes!.push({ text: 'No orders for now.', source: 'ours', for: ['il6-persistent'], when: [{ subject: { value: { above: '$persistentAbove' } } }], withholdSuggestions: true });
    const card = persistentCard(compileRuleFile(def, rules.file));
    expect(card.suggestions).toBeUndefined();
    expect(card.detail).toContain('No orders for now.');
    expect(card.detail).not.toContain('Not suggested');
    expect(card.detail).not.toContain('2.4 mg/L');
  });
});
