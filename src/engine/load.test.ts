/**
 * A broken rule file stops start-up with the file, the rule and the reason. Cases are data: each one edits
 * the real IL-6 rule file in a small way and names the location and the reason it must report.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { compileRuleFile, loadRuleFile, RuleFileError } from './load';
import type { RuleFile, SuggestionDef } from './rule-file';

const FILE = path.join(__dirname, '../../cds-services/il6-inflammation/rules.yaml');
const original = (): RuleFile => YAML.parse(readFileSync(FILE, 'utf8')) as RuleFile;

interface Case {
  name: string;
  edit: (r: RuleFile) => void;
  rule: string | RegExp;
  reason: RegExp;
  /** Where the same edit is a mistake too (after the first problem); default: nowhere. */
  also?: string[];
}

const cases: Case[] = [
  { name: 'FHIRPath syntax error', edit: (r) => (r.facts.il6!.where = 'status = ('), rule: 'facts.il6.where', reason: /FHIRPath syntax error/ },
  { name: 'unknown FHIRPath function', edit: (r) => (r.facts.il6!.time[0] = 'effective.ofTipe(dateTime)'), rule: 'facts.il6.time[0]', reason: /unknown FHIRPath function ofTipe\(\)/ },
  { name: 'a pattern that is not a regular expression', edit: (r) => (r.facts.il6!.where = "status.matches('fin[al')"), rule: 'facts.il6.where', reason: /invalid regular expression in matches\(\): .*fin\[al/ },
  { name: 'a replaceMatches pattern that is not a regular expression', edit: (r) => (r.facts.il6!.label = "code.text.replaceMatches('(a', 'b')"), rule: 'facts.il6.label', reason: /invalid regular expression in replaceMatches\(\)/ },
  { name: 'unknown FHIRPath variable', edit: (r) => (r.facts.surgery!.where = 'code.coding.inCodeSet(%surgeries)'), rule: 'facts.surgery.where', reason: /unknown variable %surgeries/ },
  { name: 'a duration parameter used in FHIRPath', edit: (r) => (r.facts.il6!.where = "%resultLookback.exists()"), rule: 'facts.il6.where', reason: /unknown variable %resultLookback/ },
  { name: 'unknown parameter', edit: (r) => ((r.relations!.confounders!.rules[2]!.where!.value!.atLeast as string) = '$feverCelsius'), rule: 'relations.confounders.rules[2].where.value.atLeast', reason: /unknown parameter \$feverCelsius/ },
  { name: 'a duration where a number is needed', edit: (r) => ((r.relations!.confounders!.rules[2]!.where!.value!.atLeast as string) = '$feverWindowBefore'), rule: 'relations.confounders.rules[2].where.value.atLeast', reason: /is a duration, a number is needed/ },
  { name: 'a malformed duration', edit: (r) => (r.parameters.stayWindow!.value = '14 fortnights'), rule: 'parameters.stayWindow.value', reason: /^must be a number or must be a duration such as "14 days"/ },
  { name: 'a profile overriding an unknown parameter', edit: (r) => (r.profiles!.longevity!.parameters.optimalBelowX = 1.2), rule: 'profiles.longevity.parameters.optimalBelowX', reason: /not a parameter/ },
  { name: 'a profile changing a parameter\'s kind', edit: (r) => (r.profiles!.longevity!.parameters.optimalBelow = '3 days'), rule: 'profiles.longevity.parameters.optimalBelow', reason: /must be a number, like the default/ },
  { name: 'an unknown key', edit: (r) => ((r.facts.il6 as unknown as Record<string, unknown>).lookbak = '24 months'), rule: 'facts.il6.lookbak', reason: /unknown key/ },
  { name: 'a missing required key', edit: (r) => delete (r as Partial<RuleFile>).findings, rule: 'findings', reason: /is required/ },
  { name: 'an accepted unit that does not convert to the fact\'s unit', edit: (r) => (r.facts.il6!.value!.units = ['pg/mL', 'IU/mL']), rule: 'facts.il6.value.units', reason: /unit "IU\/mL" cannot be converted to pg\/mL/ },
  { name: 'a unit reading that does not convert to the fact\'s unit', edit: (r) => (r.facts.fastingInsulin!.value!.readUnitsAs = { 'mU/L': 'mU/L' }), rule: 'facts.fastingInsulin.value.readUnitsAs.mU/L', reason: /unit "mU\/L" cannot be converted to u\[IU\]\/mL/ },
  { name: 'a unit reading that re-reads a unit UCUM converts already', edit: (r) => (r.facts.fastingInsulin!.value!.readUnitsAs = { 'm[IU]/mL': 'u[IU]/mL' }), rule: 'facts.fastingInsulin.value.readUnitsAs.m[IU]/mL', reason: /"m\[IU\]\/mL" is already a UCUM unit that converts to u\[IU\]\/mL/ },
  { name: 'a fact unit that is not UCUM', edit: (r) => (r.facts.crp!.value!.unit = 'mgg/L'), rule: 'facts.crp.value.unit', reason: /"mgg\/L" is not a UCUM unit: mgg is not a valid UCUM code/ },
  { name: 'a parameter unit that is not UCUM', edit: (r) => (r.parameters.feverCel!.unit = 'Cell'), rule: 'parameters.feverCel.unit', reason: /"Cell" is not a UCUM unit/ },
  { name: 'a threshold in another unit than the values it is compared with', edit: (r) => (r.parameters.acutePhaseCrpAbove = { ...r.parameters.acutePhaseCrpAbove!, value: 1, unit: 'mg/dL' }), rule: /^relations\.confounders\.rules\[7\]\.where\.value\.above$/, reason: /\$acutePhaseCrpAbove is in mg\/dL, but the values of fact "crp" are in mg\/L/ },
  { name: 'a band edge in another unit than the fact\'s values', edit: (r) => (r.parameters.mildUpTo!.unit = 'ng/mL'), rule: /^bands\.il6Tier\[1\] \(band of fact il6\)\.atMost$/, reason: /\$mildUpTo is in ng\/mL, but the values of fact "il6" are in pg\/mL/ },
  // FHIRPath names that are not FHIR R4 elements: empty on every valid resource, so the rule would never match.
  { name: 'an element name FHIR R4 does not have', edit: (r) => (r.facts.il6Recorded!.where = "statuss != 'entered-in-error'"), rule: 'facts.il6Recorded.where', reason: /"statuss" is not an element of Observation in FHIR R4/ },
  { name: 'a misspelt element deeper in a path', edit: (r) => (r.facts.il6!.exclude![2]!.when = 'dataAbsentReason.coding.cod.exists()'), rule: 'facts.il6.exclude[2].when', reason: /"cod" is not an element of Coding in FHIR R4/ },
  { name: 'an element none of the fact\'s resource types has', edit: (r) => (r.facts.il6Blockade!.where = "intnt = 'order'"), rule: 'facts.il6Blockade.where', reason: /"intnt" is not an element of MedicationRequest/ },
  { name: 'a misspelt element in a relation\'s item test', edit: (r) => (r.relations!.confounders!.rules[0]!.where = { fhirpath: 'clinicalStatuss.exists()' }), rule: 'relations.confounders.rules[0].where.fhirpath', reason: /"clinicalStatuss" is not an element of Condition/ },
  { name: 'a misspelt element in a patient clause', edit: (r) => (findPatientClause(r).patient = "gendr = 'male'"), rule: /\.patient$/, reason: /"gendr" is not an element of Patient/ },
  { name: 'a misspelt element in a series\' varies', edit: (r) => (r.notes!.find((n) => n.when.some((c) => 'varies' in c))!.when[0] = { series: 'elevated', varies: 'method.textt' }), rule: /\.varies$/, reason: /"textt" is not an element of CodeableConcept/ },
  { name: 'an unknown code set', edit: (r) => (r.facts.il6!.code!.in = ['il6Serums']), rule: 'facts.il6.code.in', reason: /unknown code set "il6Serums"/ },
  { name: 'a relation of an unknown fact', edit: (r) => (r.relations!.confounders!.rules[0]!.fact = 'acuteConditions'), rule: 'relations.confounders.rules[0].fact', reason: /unknown fact "acuteConditions"/ },
  { name: 'a set without a relation of its fact', edit: (r) => (r.sets!.eligible!.without = ['interferences']), rule: 'sets.eligible.without', reason: /not a relation of fact "il6"/ },
  { name: 'a finding referring to a later finding', edit: (r) => (r.findings[3]!.when[1] = { not: { finding: 'il6-trend' } }), rule: /^findings\[3\] \(il6-unconfirmed\)\.when\[1\]\.not\.finding$/, reason: /not a finding listed before this one/ },
  { name: 'a placeholder naming no selection', edit: (r) => (r.findings[2]!.card.summary = 'IL-6 {{elevatd.count}}'), rule: /^findings\[2\] \(il6-persistent\)\.card\.summary$/, reason: /"elevatd" is not a selection/ },
  { name: 'a placeholder with an unknown parameter', edit: (r) => (r.findings[2]!.card.summary = 'over {{$persistentSpace}}'), rule: /card\.summary$/, reason: /unknown parameter \{\{\$persistentSpace\}\}/ },
  { name: 'a card variant no clause names', edit: (r) => (r.findings[5]!.card.variants!['no-hscrp'] = { summary: 'x' }), rule: /card\.variants\.no-hscrp$/, reason: /no clause of this finding names this variant/ },
  { name: 'tiers hidden by a relation the subject does not have', edit: (r) => (r.findings[5]!.card.showTiers = { unless: 'interferenc' }), rule: /^findings\[5\] \(il6-hscrp\)\.card\.showTiers\.unless$/, reason: /"interferenc" is not a relation of the subject/ },
  { name: 'a suggestion\'s unless naming an unknown fact', edit: (r) => (persistentHsCrp(r).unless!.clause = { nearest: 'hsCrpp', window: { before: '7 days', after: '7 days' } }), rule: /^findings\[2\] \(il6-persistent\)\.card\.suggestions\[0\]\.unless\.clause\.nearest$/, reason: /unknown fact, set or selection "hsCrpp"/ },
  { name: 'a suggestion\'s unless text naming no selection of its clause', edit: (r) => (persistentHsCrp(r).unless!.says = 'on file: {{pairedCrp.value}}'), rule: /^findings\[2\] \(il6-persistent\)\.card\.suggestions\[0\]\.unless\.says$/, reason: /"pairedCrp" is not a selection of this finding/ },
  { name: 'a suggestion\'s unless naming its result as the finding already names one', edit: (r) => (persistentHsCrp(r).unless!.clause = { nearest: 'hsCrp', as: 'elevated', window: { before: '7 days', after: '7 days' } }), rule: /^findings\[2\] \(il6-persistent\)\.card\.suggestions\[0\]\.unless\.clause$/, reason: /"elevated" is already a selection of this finding/ },
  { name: 'a variant inside a suggestion\'s unless', edit: (r) => (persistentHsCrp(r).unless!.clause = { allOf: [{ nearest: 'hsCrp', window: { before: '7 days', after: '7 days' } }], variant: 'x' }), rule: /\.suggestions\[0\]\.unless\.clause$/, reason: /a variant picks card text/ },
  { name: 'guidance citing an unknown source', edit: (r) => (r.findings[0]!.card.guidance![0]!.source = 'seed999'), rule: /card\.guidance\[0\]\.source$/, reason: /unknown source "seed999"/ },
  { name: 'a has-test on a relation of another fact', edit: (r) => (r.findings[6]!.when[0] = { subject: { lacks: 'confounder' } }), rule: /when\[0\]\.subject\.lacks$/, reason: /not a relation of these items/ },
  { name: 'a band without a limit', edit: (r) => delete r.bands!.il6Tier![1]!.atMost, rule: 'bands.il6Tier[1]', reason: /needs a limit/ },
  // Renaming il6-confounded also leaves the notes written for it without their finding.
  { name: 'a duplicate finding code', edit: (r) => (r.findings[1]!.code = 'il6-interference'), rule: /^findings\[1\] \(il6-interference\)$/, reason: /duplicate finding code/, also: ['notes[0].for', 'notes[7].for', 'notes[8].for'] },
];

function errorOf(fn: () => unknown): RuleFileError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RuleFileError) return err;
    throw err;
  }
  throw new Error('no RuleFileError was thrown');
}

/** The persistence card's hs-CRP suggestion, which is not offered when an hs-CRP is on file (`unless`). */
function persistentHsCrp(r: RuleFile): SuggestionDef {
  return r.findings.find((f) => f.code === 'il6-persistent')!.card.suggestions!.find((s) => s.unless)!;
}

/** The first `{ patient: … }` clause of the findings (the metabolic finding's sex-specific waist test). */
function findPatientClause(r: RuleFile): { patient: string } {
  const found: { patient: string }[] = [];
  JSON.stringify(r.findings, (_k, v: unknown) => {
    if (v && typeof v === 'object' && 'patient' in v) found.push(v as { patient: string });
    return v;
  });
  return found[0]!;
}

describe('rule-file errors stop start-up with file, rule and reason', () => {
  it('the shipped IL-6 rule file loads, with the default and longevity profiles', () => {
    const rs = loadRuleFile(FILE);
    expect(rs.id).toBe('il6-inflammation');
    expect(Object.keys(rs.profiles).sort()).toEqual(['default', 'longevity']);
    expect(rs.profiles.longevity!.numbers.persistentAbove).toBe(2);
    expect(rs.profiles.default!.numbers.persistentAbove).toBe(3);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const def = original();
    c.edit(def);
    let error: unknown;
    try {
      compileRuleFile(def, FILE);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RuleFileError);
    const e = error as RuleFileError;
    expect(e.file).toBe(FILE);
    if (typeof c.rule === 'string') expect(e.rule).toBe(c.rule);
    else expect(e.rule).toMatch(c.rule);
    expect(e.reason).toMatch(c.reason);
    // One mistake, one problem: nothing that refers to the broken part is reported as well.
    expect(e.problems[0]).toEqual({ rule: e.rule, reason: e.reason });
    expect(e.problems.slice(1).map((p) => p.rule)).toEqual(c.also ?? []);
    expect(e.message).toBe(e.problems.map((p) => `${e.file}: ${p.rule}: ${p.reason}`).join('\n'));
  });

  it('reports every problem of a file, each once, in the order of the file', () => {
    // Mistakes in parts nothing else refers to: a mistake in a fact hides what reads that fact (tested above).
    const picked = ['a parameter unit that is not UCUM', 'a band without a limit', 'guidance citing an unknown source', 'a card variant no clause names', 'a has-test on a relation of another fact', "a misspelt element in a series' varies"];
    const def = original();
    for (const name of picked) cases.find((c) => c.name === name)!.edit(def);
    const e = errorOf(() => compileRuleFile(def, FILE));
    expect(e.problems.map((p) => p.rule)).toEqual([
      'parameters.feverCel.unit',
      'bands.il6Tier[1]',
      'findings[0] (il6-interference).card.guidance[0].source',
      'findings[5] (il6-hscrp).card.variants.no-hscrp',
      'findings[6] (il6-metabolic).when[0].subject.lacks',
      expect.stringMatching(/^notes\[\d+\]\.when\[0\] \(for il6-persistent\)\.varies$/) as unknown,
    ]);
    expect(e.rule).toBe('parameters.feverCel.unit');
    expect(e.message.split('\n')).toHaveLength(6);
  });

  it('reports every schema problem of a file: one per mistake, alternatives of one clause joined', () => {
    const picked = ['a malformed duration', 'an unknown key'];
    const def = original();
    for (const name of picked) cases.find((c) => c.name === name)!.edit(def);
    (def.findings[4]!.when[0] as unknown as Record<string, unknown>).seriess = 'eligible';
    const e = errorOf(() => compileRuleFile(def, FILE));
    expect(e.problems).toEqual([
      { rule: 'parameters.stayWindow.value', reason: expect.stringMatching(/^must be a number or must be a duration such as "14 days"/) as unknown },
      { rule: 'facts.il6.lookbak', reason: 'unknown key' },
      { rule: expect.stringMatching(/^findings\[4\]\.when\[0\]/) as unknown, reason: expect.any(String) as unknown },
    ]);
  });

  it('an element only some of a fact\'s resource types have is not an error (MedicationStatement has no intent)', () => {
    const def = original();
    def.facts.il6Blockade!.where = "iif(intent = 'proposal', false, true)";
    expect(() => compileRuleFile(def, FILE)).not.toThrow();
    def.facts.il6Blockade!.resourceTypes = ['MedicationStatement'];
    expect(() => compileRuleFile(def, FILE)).toThrow(/"intent" is not an element of MedicationStatement/);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(() => compileRuleFile(undefined, FILE)).toThrow(RuleFileError);
    const bad = path.join(__dirname, '__missing__.yaml');
    expect(() => loadRuleFile(bad)).toThrow(/cannot be read/);
  });

  it('compiles each distinct FHIRPath expression once, shared by every profile', () => {
    const rs = loadRuleFile(FILE);
    expect(rs.profiles.default!.facts.il6!.time[0]).toBe(rs.profiles.longevity!.facts.il6!.time[0]);
    expect(rs.profiles.default!.facts.crp!.time[0]).toBe(rs.profiles.default!.facts.il6!.time[0]);
  });
});
