/** The optional `chart` section of a rule file (what the preview page plots), valid and invalid. */
import { compileRuleFile, RuleFileError } from './load';

/** A small generic rule file: a marker with bands, a relation of it, and a second valued fact. */
function ruleFile(chart?: unknown): Record<string, unknown> {
  return {
    id: 'chart-test',
    name: 'Chart test',
    version: '1.0.0',
    label: 'Chart test',
    topicSystem: 'urn:test:finding',
    sources: { s: { citation: 'test' } },
    parameters: {
      lowBelow: { value: 10, doc: 'low edge' },
      midUpTo: { value: 20, doc: 'mid edge' },
      window: { value: '2 days', doc: 'window' },
    },
    profiles: { strict: { description: 'moves the low edge', parameters: { lowBelow: 8 } } },
    codeSets: { m: [{ system: 'urn:test', code: 'm' }], o: [{ system: 'urn:test', code: 'o' }], n: [{ system: 'urn:test', code: 'n' }] },
    bands: { tier: [{ name: 'low', below: '$lowBelow' }, { name: 'mid', atMost: '$midUpTo' }, { name: 'high' }] },
    facts: {
      marker: { resourceTypes: ['Observation'], code: { path: 'code', in: ['m'] }, time: ['effective.ofType(dateTime)'], value: { path: 'value', unit: 'mg/L' }, band: 'tier' },
      other: { resourceTypes: ['Observation'], code: { path: 'code', in: ['o'] }, time: ['effective.ofType(dateTime)'], value: { path: 'value', unit: 'g/L' } },
      note: { resourceTypes: ['Observation'], code: { path: 'code', in: ['n'] }, time: ['effective.ofType(dateTime)'] },
    },
    relations: {
      disturbed: { of: 'marker', rules: [{ fact: 'note', label: 'a note', window: { before: '$window', after: '0 days', match: 'time' } }] },
      otherNear: { of: 'other', rules: [{ fact: 'note', label: 'a note', window: { before: '$window', after: '0 days', match: 'time' } }] },
    },
    findings: [{ code: 'high', display: 'High', indicator: 'info', subject: { latest: 'marker' }, when: [{ subject: { value: { above: '$midUpTo' } } }], card: { summary: 'high' } }],
    overrideReasons: [{ system: 'urn:test', code: 'x', display: 'X' }],
    ...(chart === undefined ? {} : { chart }),
  };
}

const valid = { title: 'Marker over time', series: 'marker', seriesLabel: 'Marker', bands: 'tier', mark: [{ relation: 'disturbed', flag: 'disturbed' }], secondary: 'other' };

function failure(chart: unknown): { rule: string; reason: string } {
  try {
    compileRuleFile(ruleFile(chart), 'rules.yaml');
  } catch (err) {
    if (err instanceof RuleFileError) return { rule: err.rule, reason: err.reason };
    throw err;
  }
  throw new Error('expected the rule file to be refused');
}

describe('rule file chart section', () => {
  it('is optional', () => {
    const rs = compileRuleFile(ruleFile(), 'rules.yaml');
    expect(rs.profiles.default!.chart).toBeUndefined();
  });

  it('compiles per profile, with the profile’s band edges', () => {
    const rs = compileRuleFile(ruleFile(valid), 'rules.yaml');
    expect(rs.profiles.default!.chart).toEqual({
      title: 'Marker over time',
      series: { fact: 'marker', label: 'Marker', unit: 'mg/L' },
      bands: { name: 'tier', bands: [{ name: 'low', below: 10 }, { name: 'mid', atMost: 20 }, { name: 'high' }] },
      mark: [{ relation: 'disturbed', flag: 'disturbed' }],
      secondary: { fact: 'other', label: 'other', unit: 'g/L' },
    });
    expect(rs.profiles.strict!.chart!.bands!.bands[0]).toEqual({ name: 'low', below: 8 });
  });

  it('needs only a title and a series', () => {
    const rs = compileRuleFile(ruleFile({ title: 'T', series: 'other' }), 'rules.yaml');
    expect(rs.profiles.default!.chart).toEqual({ title: 'T', series: { fact: 'other', label: 'other', unit: 'g/L' }, mark: [] });
  });

  it.each([
    [{ series: 'marker' }, 'chart.title', 'is required'],
    [{ title: 'T', series: 'marker', colour: 'red' }, 'chart.colour', 'unknown key'],
    [{ title: 'T', series: 'nothing' }, 'chart.series', 'unknown fact "nothing"'],
    [{ title: 'T', series: 'note' }, 'chart.series', 'fact "note" has no value to plot'],
    [{ title: 'T', series: 'marker', bands: 'nothing' }, 'chart.bands', 'unknown band "nothing"'],
    [{ title: 'T', series: 'marker', mark: [{ relation: 'otherNear', flag: 'near' }] }, 'chart.mark[0].relation', '"otherNear" is not a relation of fact "marker"'],
    [{ title: 'T', series: 'marker', mark: [{ relation: 'nothing', flag: 'near' }] }, 'chart.mark[0].relation', '"nothing" is not a relation of fact "marker"'],
    [{ title: 'T', series: 'marker', mark: [{ relation: 'disturbed', flag: 'excluded' }] }, 'chart.mark[0].flag', 'flag "excluded" is already used'],
    [{ title: 'T', series: 'marker', mark: [{ relation: 'disturbed', flag: 'a' }, { relation: 'disturbed', flag: 'a' }] }, 'chart.mark[1].flag', 'flag "a" is already used'],
    [{ title: 'T', series: 'marker', mark: [{ relation: 'disturbed', flag: 'Not A Word' }] }, 'chart.mark[0].flag', expect.stringMatching(/pattern/)],
    [{ title: 'T', series: 'marker', secondary: 'note' }, 'chart.secondary', 'fact "note" has no value to plot'],
  ])('refuses %j (%s)', (chart, rule, reason) => {
    expect(failure(chart)).toEqual({ rule, reason });
  });
});
