/**
 * Loads a rule file: parse YAML, validate against the JSON Schema, check every reference, compile every
 * FHIRPath expression (once, R4 model), and resolve parameters for each profile. Any problem throws a
 * {@link RuleFileError} naming the file, and the rule and the reason of every problem found, so a broken rule
 * file stops start-up and one run of `validate-rules` lists everything to fix.
 */
import { readFileSync } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { pointerToPath } from '../cds-hooks/validation';
import { RULE_FILE_SCHEMAS, schemaValidators } from '../precompiled-validators';
import { CodeIndex } from './code-sets';
import { checkElements, checkExpression, CodeSetMatcher, compileFhirPath, POOL_VAR, type Compiled } from './fhirpath';
import type {
  CompiledChart,
  CompiledClause,
  CompiledFact,
  CompiledFinding,
  CompiledRelation,
  CompiledSet,
  ItemTest,
  Profile,
  RuleSet,
  Template,
} from './model';
import type { Band, ValueTest } from './quantity';
import type { ChartDef, Clause, FactDef, ItemTest as ItemTestDef, RuleFile, SuggestionDef, ValueTestDef } from './rule-file';
import { formatDuration, parseDuration, type Duration } from './time';
import { convert, unitProblem } from './units';
import { SELECTION_FIELDS, SERIES_FIELDS } from './placeholders';

/** One problem of a rule file: where (`facts.il6.time[0]`, `findings[2] (il6-trend).when[1]`) and why. */
export interface RuleProblem {
  rule: string;
  reason: string;
}

/**
 * Thrown when a rule file cannot be used. `rule` and `reason` are its first problem; `problems` holds every
 * problem found (the first included), one line each in the message.
 */
export class RuleFileError extends Error {
  readonly problems: readonly RuleProblem[];

  constructor(
    readonly file: string,
    readonly rule: string,
    readonly reason: string,
    more: readonly RuleProblem[] = [],
  ) {
    const problems = [{ rule, reason }, ...more];
    super(problems.map((p) => `${file}: ${p.rule}: ${p.reason}`).join('\n'));
    this.name = 'RuleFileError';
    this.problems = problems;
  }

  /** The error (of this class or a subclass) for `problems`, the first of which becomes `rule` and `reason`. */
  static of<T extends RuleFileError>(this: new (file: string, rule: string, reason: string, more: readonly RuleProblem[]) => T, file: string, problems: readonly RuleProblem[]): T {
    const [first, ...more] = problems;
    return new this(file, first!.rule, first!.reason, more);
  }
}

const validateSchema = schemaValidators(RULE_FILE_SCHEMAS).ruleFile as ValidateFunction<RuleFile>;

/** Variable names the engine provides to every expression besides parameters and code sets. */
const ENGINE_VARS = ['patient', POOL_VAR];

export function loadRuleFile(file: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RuleFileError(file, '(file)', `cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text, { maxAliasCount: 1000 });
  } catch (err) {
    throw new RuleFileError(file, '(yaml)', (err as Error).message.split('\n')[0]!);
  }
  return compileRuleFile(parsed, file);
}

export function compileRuleFile(parsed: unknown, file: string): RuleSet {
  if (!validateSchema(parsed)) throw RuleFileError.of(file, describeSchemaErrors(validateSchema.errors ?? []));
  return new Compiler(parsed, file).compile();
}

type SchemaError = NonNullable<typeof validateSchema.errors>[number];

const UNION_KEYWORDS = ['oneOf', 'anyOf', 'if'];

/**
 * One problem per independent mistake, in ajv's order. Errors inside a union (`anyOf`: a clause is one of
 * several kinds) are one mistake, reported at the outermost union that failed; any other error is one on its own.
 */
function describeSchemaErrors(errors: SchemaError[]): RuleProblem[] {
  const unions = errors.filter((e) => UNION_KEYWORDS.includes(e.keyword)).map((e) => e.instancePath);
  const within = (path: string, outer: string) => path === outer || path.startsWith(`${outer}/`);
  const groups = new Map<string, SchemaError[]>();
  for (const e of errors) {
    const union = unions.filter((u) => within(e.instancePath, u)).sort((a, b) => a.length - b.length)[0];
    const key = union !== undefined ? `union ${union}` : `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups.values()].map(describeOne);
}

/**
 * Of one mistake's errors, the deepest location is the one a person wants to read; where alternatives
 * (`anyOf`) all failed there, their reasons are joined ("must be a number or a duration such as \"14 days\"").
 */
function describeOne(errors: SchemaError[]): RuleProblem {
  const real = errors.filter((e) => !UNION_KEYWORDS.includes(e.keyword));
  const pool = real.length > 0 ? real : errors;
  const deepest = pool.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a));
  const extra = deepest.keyword === 'additionalProperties' ? String((deepest.params as { additionalProperty: string }).additionalProperty) : deepest.keyword === 'required' ? String((deepest.params as { missingProperty: string }).missingProperty) : undefined;
  const rule = pointerToPath(deepest.instancePath, extra);
  if (deepest.keyword === 'additionalProperties') return { rule, reason: 'unknown key' };
  if (deepest.keyword === 'required') return { rule, reason: 'is required' };
  const reasons = [...new Set(pool.filter((e) => e.instancePath === deepest.instancePath).map(friendly))];
  return { rule, reason: reasons.join(' or ') };
}

function friendly(e: SchemaError): string {
  if (e.schemaPath.includes('durationLiteral')) return 'must be a duration such as "14 days" or "72 hours"';
  if (e.schemaPath.includes('paramRef')) return 'must be a $parameter';
  if (e.keyword === 'type') return `must be a ${String((e.params as { type: string }).type)}`;
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return e.message ?? 'is invalid';
}

/** Thrown (and caught by `Compiler.part`) when a part refers to something whose own definition had a problem. */
const DEPENDS_ON_BROKEN = Symbol('depends on a broken definition');

/** What a part of the file defines, so that what refers to it is not reported again when it is broken. */
type Defined = 'codeSet' | 'parameter' | 'band' | 'fact' | 'relation' | 'set' | 'finding';

class Compiler {
  private readonly fhirpathCache = new Map<string, Compiled>();
  /** Expression and resource types whose element names were checked (once, not once per profile). */
  private readonly elementsChecked = new Set<string>();
  /** Finding code → its named selections (`as:`), which the notes attached to it may read. */
  private readonly findingSelections = new Map<string, Map<string, string>>();
  private readonly knownVars: Set<string>;
  private readonly codeSets: Record<string, CodeSetMatcher> = {};
  /** Every problem found so far: after one, the compiler goes on with the next part of the file. */
  private readonly problems: RuleProblem[] = [];
  /** Definitions that had a problem (`fact:il6`), so that what refers to them is not reported as well. */
  private readonly broken = new Set<string>();

  constructor(
    private readonly def: RuleFile,
    private readonly file: string,
  ) {
    // Numeric parameters and code sets are visible to FHIRPath as %name; durations are not (use the operators).
    const numeric = Object.entries(def.parameters).filter(([, p]) => typeof p.value === 'number').map(([n]) => n);
    this.knownVars = new Set([...numeric, ...Object.keys(def.codeSets), ...ENGINE_VARS]);
  }

  fail(rule: string, reason: string): never {
    throw new RuleFileError(this.file, rule, reason);
  }

  /** Fails on a reference to something undefined, or abandons the part quietly when its definition was broken. */
  private missing(kind: Defined, name: string, rule: string, reason: string): never {
    if (this.broken.has(`${kind}:${name}`)) throw DEPENDS_ON_BROKEN;
    return this.fail(rule, reason);
  }

  /**
   * Runs one part of the file (a fact, a relation, a finding…). A problem in it is recorded, the part is left
   * out, and `defines` (what the part defines) is marked broken; the compiler goes on with the next part.
   */
  private part<T>(fn: () => T, defines?: `${Defined}:${string}`): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (err !== DEPENDS_ON_BROKEN) {
        if (!(err instanceof RuleFileError)) throw err;
        // Facts are compiled once per profile: the same problem is reported once.
        for (const p of err.problems) if (!this.problems.some((q) => q.rule === p.rule && q.reason === p.reason)) this.problems.push(p);
      }
      if (defines) this.broken.add(defines);
      return undefined;
    }
  }

  compile(): RuleSet {
    const d = this.def;
    for (const name of Object.keys(d.codeSets)) {
      this.part(() => {
        if (name in d.parameters) this.fail(`codeSets.${name}`, 'a parameter has the same name');
        this.codeSets[name] = new CodeSetMatcher(name, d.codeSets[name]!);
      }, `codeSet:${name}`);
    }
    for (const [name, p] of Object.entries(d.parameters)) {
      this.part(() => {
        if (p.source && !(p.source in d.sources)) this.fail(`parameters.${name}.source`, `unknown source "${p.source}"`);
        const problem = p.unit === undefined ? undefined : unitProblem(p.unit);
        if (problem) this.fail(`parameters.${name}.unit`, `"${p.unit}" is not a UCUM unit: ${problem}`);
      }, `parameter:${name}`);
    }
    for (const [name, f] of Object.entries(d.facts)) {
      this.part(() => {
        const problem = f.value ? unitProblem(f.value.unit) : undefined;
        if (problem) this.fail(`facts.${name}.value.unit`, `"${f.value!.unit}" is not a UCUM unit: ${problem}`);
      }, `fact:${name}`);
    }
    const profileDefs = { default: { description: 'Default thresholds.', parameters: {} }, ...(d.profiles ?? {}) };
    const profiles: Record<string, Profile> = {};
    for (const [name, pdef] of Object.entries(profileDefs)) {
      for (const key of Object.keys(pdef.parameters)) {
        this.part(() => {
          if (!(key in d.parameters)) this.fail(`profiles.${name}.parameters.${key}`, 'not a parameter of this rule file');
        });
      }
      // What is broken in one profile (a parameter of the wrong kind) may be fine in the next.
      const brokenBefore = [...this.broken];
      profiles[name] = this.compileProfile(name, pdef.description, pdef.parameters);
      this.broken.clear();
      for (const b of brokenBefore) this.broken.add(b);
    }
    if (this.problems.length > 0) throw RuleFileError.of(this.file, this.problems);
    return { file: this.file, def: d, id: d.id, version: d.version, expressions: [...this.fhirpathCache.keys()], codeSets: this.codeSets, profiles };
  }

  private compileProfile(name: string, description: string, overrides: Record<string, number | string>): Profile {
    const numbers: Record<string, number> = {};
    const durations: Record<string, Duration> = {};
    const display: Record<string, string> = {};
    for (const [key, p] of Object.entries(this.def.parameters)) {
      this.part(() => {
        const raw = key in overrides ? overrides[key]! : p.value;
        const where = key in overrides ? `profiles.${name}.parameters.${key}` : `parameters.${key}`;
        if (typeof p.value !== typeof raw) this.fail(where, `must be a ${typeof p.value === 'number' ? 'number' : 'duration'}, like the default`);
        if (typeof raw === 'number') {
          numbers[key] = raw;
          display[key] = String(raw);
        } else {
          const dur = parseDuration(raw) ?? this.fail(where, `"${raw}" is not a duration such as "14 days"`);
          durations[key] = dur;
          display[key] = formatDuration(dur);
        }
      }, `parameter:${key}`);
    }
    const ctx: ProfileContext = { numbers, durations };
    const bands: Record<string, Band[]> = {};
    for (const [bname, list] of Object.entries(this.def.bands ?? {})) {
      const compiled = this.part(
        () =>
          list.map((b, i) => {
            const at = `bands.${bname}[${i}]`;
            const band: Band = { name: b.name };
            if (b.below !== undefined) band.below = this.num(b.below, ctx, `${at}.below`);
            if (b.atMost !== undefined) band.atMost = this.num(b.atMost, ctx, `${at}.atMost`);
            const last = i === list.length - 1;
            if (last !== (band.below === undefined && band.atMost === undefined)) this.fail(at, last ? 'the last band must have no limit' : 'needs a limit (below or atMost)');
            return band;
          }),
        `band:${bname}`,
      );
      if (compiled) bands[bname] = compiled;
    }
    const facts: Record<string, CompiledFact> = {};
    for (const [fname, fdef] of Object.entries(this.def.facts)) {
      const fact = this.part(() => this.compileFact(fname, fdef, ctx), `fact:${fname}`);
      if (fact) facts[fname] = fact;
    }
    const codeIndexes: Profile['codeIndexes'] = [];
    for (const fact of Object.values(facts)) {
      if (!fact.code) continue;
      let group = codeIndexes.find((g) => g.path === fact.code!.path);
      if (!group) codeIndexes.push((group = { path: fact.code.path, compiled: fact.code.compiled, resourceTypes: new Set(), index: new CodeIndex() }));
      for (const t of fact.resourceTypes) (group.resourceTypes as Set<string>).add(t);
      for (const set of fact.code.sets) group.index.add(fact.name, set);
    }
    const relations: Record<string, CompiledRelation> = {};
    for (const [rname, r] of Object.entries(this.def.relations ?? {})) {
      const relation = this.part((): CompiledRelation => {
        if (!(r.of in facts)) this.missing('fact', r.of, `relations.${rname}.of`, `unknown fact "${r.of}"`);
        if (rname in facts) this.fail(`relations.${rname}`, 'a fact has the same name');
        return {
          name: rname,
          of: r.of,
          rules: r.rules.map((rule, i) => {
            const at = `relations.${rname}.rules[${i}]`;
            if (!(rule.fact in facts)) this.missing('fact', rule.fact, `${at}.fact`, `unknown fact "${rule.fact}"`);
            return {
              fact: rule.fact,
              label: rule.label,
              where: rule.where ? this.itemTest(rule.where, ctx, `${at}.where`, { fact: rule.fact, relationsOf: undefined }) : undefined,
              window: { before: this.dur(rule.window.before, ctx, `${at}.window.before`), after: this.dur(rule.window.after, ctx, `${at}.window.after`), match: rule.window.match },
            };
          }),
        };
      }, `relation:${rname}`);
      if (relation) relations[rname] = relation;
    }
    const sets: Record<string, CompiledSet> = {};
    for (const [sname, s] of Object.entries(this.def.sets ?? {})) {
      const set = this.part((): CompiledSet => {
        if (sname in facts || sname in relations) this.fail(`sets.${sname}`, 'a fact or relation has the same name');
        if (!(s.from in facts)) this.missing('fact', s.from, `sets.${sname}.from`, `unknown fact "${s.from}"`);
        for (const w of s.without ?? []) {
          if (relations[w]?.of !== s.from) this.missing('relation', w, `sets.${sname}.without`, `"${w}" is not a relation of fact "${s.from}"`);
        }
        return { name: sname, from: s.from, without: s.without ?? [] };
      }, `set:${sname}`);
      if (set) sets[sname] = set;
    }
    const scope: Scope = { facts, relations, sets, ctx, findingCodes: [], names: new Map() };
    const findings: CompiledFinding[] = [];
    this.def.findings.forEach((f, i) => {
      const finding = this.part(() => this.compileFinding(f, i, scope), `finding:${f.code}`);
      if (finding) findings.push(finding);
    });
    this.compileNotes(findings, scope);
    const chart = this.def.chart ? this.part(() => this.compileChart(this.def.chart!, facts, relations, bands)) : undefined;
    return { name, description, numbers, durations, display, bands, facts, codeIndexes, relations, sets, findings, ...(chart ? { chart } : {}) };
  }

  /** The preview chart: plotted facts need values, marks must be relations of the series fact. */
  private compileChart(c: ChartDef, facts: Record<string, CompiledFact>, relations: Record<string, CompiledRelation>, bands: Record<string, Band[]>): CompiledChart {
    const plotted = (fact: string, label: string | undefined, at: string) => {
      const f = facts[fact] ?? this.missing('fact', fact, at, `unknown fact "${fact}"`);
      if (!f.value) this.fail(at, `fact "${fact}" has no value to plot`);
      return { fact, label: label ?? fact, unit: f.value.unit };
    };
    const out: CompiledChart = { title: c.title, series: plotted(c.series, c.seriesLabel, 'chart.series'), mark: [] };
    if (c.bands) out.bands = { name: c.bands, bands: bands[c.bands] ?? this.missing('band', c.bands, 'chart.bands', `unknown band "${c.bands}"`) };
    (c.mark ?? []).forEach((m, i) => {
      if (relations[m.relation]?.of !== c.series) this.missing('relation', m.relation, `chart.mark[${i}].relation`, `"${m.relation}" is not a relation of fact "${c.series}"`);
      if (m.flag === 'excluded' || out.mark.some((x) => x.flag === m.flag)) this.fail(`chart.mark[${i}].flag`, `flag "${m.flag}" is already used`);
      out.mark.push({ relation: m.relation, flag: m.flag });
    });
    if (c.secondary) out.secondary = plotted(c.secondary, c.secondaryLabel, 'chart.secondary');
    return out;
  }

  /**
   * Notes are compiled once per finding they attach to, in that finding's scope (its subject and its named
   * selections, such as a trend's series). A note that needs a subject skips findings without one, unless it
   * names them in `for`, which is an error.
   */
  private compileNotes(findings: CompiledFinding[], scope: Scope): void {
    (this.def.notes ?? []).forEach((n, i) => {
      const at = `notes[${i}]`;
      this.part(() => {
        if (!(n.source in this.def.sources)) this.fail(`${at}.source`, `unknown source "${n.source}"`);
        for (const code of n.for ?? []) if (!findings.some((f) => f.code === code)) this.missing('finding', code, `${at}.for`, `unknown finding "${code}"`);
        for (const f of findings) {
          if (n.for && !n.for.includes(f.code)) continue;
          if (!f.subject && !n.for && n.when.some(needsSubject)) continue;
          const local: Scope = { ...scope, names: new Map(this.findingSelections.get(f.code)), subjectFact: f.subject ? this.source(f.subject, scope, `${at}`) : undefined };
          f.notes.push({
            text: n.text,
            source: n.source,
            when: n.when.map((c, j) => this.clause(c, local, `${at}.when[${j}] (for ${f.code})`)),
            withholdSuggestions: n.withholdSuggestions === true,
          });
        }
      });
    });
  }

  private compileFact(name: string, f: FactDef, ctx: ProfileContext): CompiledFact {
    if (this.broken.has(`fact:${name}`)) throw DEPENDS_ON_BROKEN; // its unit was reported
    const at = `facts.${name}`;
    const on = f.resourceTypes;
    if (f.band && !(f.band in (this.def.bands ?? {}))) this.fail(`${at}.band`, `unknown band "${f.band}"`);
    if (f.band && !f.value) this.fail(`${at}.band`, 'a band needs a value');
    if (f.band) this.def.bands![f.band]!.forEach((b, i) => this.checkThresholdUnits(b, name, `bands.${f.band}[${i}] (band of fact ${name})`));
    let code: CompiledFact['code'];
    if (f.code) {
      const sets = f.code.in.map((s) => this.codeSets[s] ?? this.missing('codeSet', s, `${at}.code.in`, `unknown code set "${s}"`));
      code = { path: f.code.path, compiled: this.fhirpath(f.code.path, `${at}.code.path`, on), sets };
    }
    return {
      name,
      resourceTypes: new Set(f.resourceTypes),
      code,
      where: f.where ? this.fhirpath(f.where, `${at}.where`, on) : undefined,
      time: f.time.map((e, i) => this.fhirpath(e, `${at}.time[${i}]`, on)),
      end: (f.end ?? []).map((e, i) => this.fhirpath(e, `${at}.end[${i}]`, on)),
      ongoing: f.ongoing ? this.fhirpath(f.ongoing, `${at}.ongoing`, on) : undefined,
      value: f.value
        ? {
            path: this.fhirpath(f.value.path, `${at}.value.path`, on),
            unit: f.value.unit,
            units: f.value.units ? this.acceptedUnits(f.value.units, f.value.unit, `${at}.value.units`) : undefined,
            readAs: f.value.readUnitsAs ? this.unitReadings(f.value.readUnitsAs, f.value.unit, `${at}.value.readUnitsAs`) : undefined,
            greaterThan: f.value.greaterThan ?? 'above',
            fromString: f.value.fromString
              ? {
                  unitFallback: f.value.fromString.unitFallback ? this.fhirpath(f.value.fromString.unitFallback, `${at}.value.fromString.unitFallback`, on) : undefined,
                  comparatorsOnly: f.value.fromString.comparatorsOnly === true,
                }
              : undefined,
          }
        : undefined,
      band: f.band,
      label: f.label ? this.fhirpath(f.label, `${at}.label`, on) : undefined,
      exclude: (f.exclude ?? []).map((x, i) => {
        const template = parseTemplate(x.reason);
        const compiled = new Map<string, Compiled>();
        for (const part of template) if (typeof part !== 'string') compiled.set(part.expr, this.fhirpath(part.expr, `${at}.exclude[${i}].reason`, on));
        return { when: this.fhirpath(x.when, `${at}.exclude[${i}].when`, on), reason: { template, compiled } };
      }),
      lookback: f.lookback ? this.dur(f.lookback, ctx, `${at}.lookback`) : undefined,
    };
  }

  private compileFinding(f: RuleFile['findings'][number], index: number, scope: Scope): CompiledFinding {
    const at = `findings[${index}] (${f.code})`;
    if (scope.findingCodes.includes(f.code)) this.fail(at, 'duplicate finding code');
    const local: Scope = { ...scope, names: new Map(), subjectFact: undefined };
    if (f.subject) {
      const src = this.source(f.subject.latest, local, `${at}.subject.latest`);
      local.subjectFact = src;
    }
    const when = f.when.map((c, i) => this.clause(c, local, `${at}.when[${i}]`));
    const indicator = typeof f.indicator === 'string'
      ? { default: f.indicator, raise: [] }
      : { default: f.indicator.default, raise: (f.indicator.raise ?? []).map((r, i) => ({ to: r.to, when: this.clause(r.when, local, `${at}.indicator.raise[${i}].when`) })) };
    const card = f.card;
    const checkSource = (s: string, where: string) => {
      if (!(s in this.def.sources)) this.fail(where, `unknown source "${s}"`);
    };
    const texts = [{ text: card, where: `${at}.card` }, ...Object.entries(card.variants ?? {}).map(([v, t]) => ({ text: t, where: `${at}.card.variants.${v}` }))];
    const variantNames = collectVariants(f.when);
    for (const v of Object.keys(card.variants ?? {})) if (!variantNames.has(v)) this.fail(`${at}.card.variants.${v}`, 'no clause of this finding names this variant');
    const suggestionUnless = new Map<SuggestionDef, CompiledClause>();
    for (const { text, where } of texts) {
      (text.guidance ?? []).forEach((g, i) => checkSource(g.source, `${where}.guidance[${i}].source`));
      for (const field of ['summary', 'detail'] as const) {
        const t = text[field];
        if (t) this.checkPlaceholders(t, local, `${where}.${field}`, variantNames.size > 0);
      }
      (text.suggestions ?? []).forEach((s, i) => {
        if (!s.unless) return;
        // Its own scope: a selection the clause names is read by its `says`, not by the rest of the card. A name the
        // finding binds already would stand for two results, and a variant would pick no text.
        const own: Scope = { ...local, names: new Map(local.names) };
        const w = `${where}.suggestions[${i}].unless`;
        eachClause([s.unless.clause], (c) => {
          if ('as' in c && c.as && local.names.has(c.as)) this.fail(`${w}.clause`, `"${c.as}" is already a selection of this finding: name the result this clause selects differently`);
          if ('allOf' in c && c.variant) this.fail(`${w}.clause`, `a variant picks card text; it has no meaning in a suggestion's unless`);
        });
        suggestionUnless.set(s, this.clause(s.unless.clause, own, `${w}.clause`));
        this.checkPlaceholders(s.unless.says, own, `${w}.says`, variantNames.size > 0);
      });
    }
    for (const e of card.evidence ?? []) if (e !== 'subject' && !local.names.has(e)) this.fail(`${at}.card.evidence`, `"${e}" is not a selection of this finding`);
    if ((card.evidence ?? []).includes('subject') && !f.subject) this.fail(`${at}.card.evidence`, 'this finding has no subject');
    for (const r of card.showRelations ?? []) {
      if (scope.relations[r]?.of !== local.subjectFact) this.missing('relation', r, `${at}.card.showRelations`, `"${r}" is not a relation of the subject`);
    }
    const tiersUnless = typeof card.showTiers === 'object' ? card.showTiers.unless : undefined;
    if (tiersUnless !== undefined && scope.relations[tiersUnless]?.of !== local.subjectFact) {
      this.missing('relation', tiersUnless, `${at}.card.showTiers.unless`, `"${tiersUnless}" is not a relation of the subject`);
    }
    const reportExclusions = (card.reportExclusions ?? []).map((x, i) => {
      const fact = typeof x === 'string' ? x : x.fact;
      if (!(fact in scope.facts)) this.missing('fact', fact, `${at}.card.reportExclusions`, `unknown fact "${fact}"`);
      return typeof x === 'string' ? { fact } : { fact, within: this.dur(x.within, scope.ctx, `${at}.card.reportExclusions[${i}].within`) };
    });
    let checklist: CompiledFinding['card']['checklist'];
    if (card.checklist) {
      checklist = {
        ...card.checklist,
        items: card.checklist.items.map((item, i) => {
          const w = `${at}.card.checklist.items[${i}]`;
          if (!(item.knownFrom in scope.facts)) this.missing('fact', item.knownFrom, `${w}.knownFrom`, `unknown fact "${item.knownFrom}"`);
          return { ...item, compiledWhen: item.when ? this.clause(item.when, { ...local, names: new Map(local.names) }, `${w}.when`) : undefined };
        }),
      };
    }
    scope.findingCodes.push(f.code);
    this.findingSelections.set(f.code, local.names);
    return {
      def: f,
      code: f.code,
      display: f.display,
      indicator,
      subject: f.subject?.latest,
      when,
      notes: [],
      card: {
        base: card,
        variants: card.variants ?? {},
        evidence: card.evidence ?? [],
        reportExclusions,
        showRelations: card.showRelations ?? [],
        showTiers: card.showTiers !== false,
        tiersUnless,
        checklist,
        suggestionUnless,
      },
    };
  }

  /** A fact, a set, or (inside a finding) an earlier named selection. Returns the fact its items come from. */
  private source(name: string, scope: Scope, where: string): string {
    if (name in scope.facts) return name;
    if (name in scope.sets) return scope.sets[name]!.from;
    const named = scope.names.get(name);
    if (named) return named;
    if (this.broken.has(`set:${name}`)) throw DEPENDS_ON_BROKEN;
    return this.missing('fact', name, where, `unknown fact, set or selection "${name}"`);
  }

  private clause(c: Clause, scope: Scope, at: string): CompiledClause {
    const ctx = scope.ctx;
    const bind = (as: string | undefined, fact: string) => {
      if (!as) return;
      if (as === 'subject' || as in scope.facts || as in scope.sets || as in scope.relations) this.fail(`${at}.as`, `"${as}" is already the name of something else`);
      const prev = scope.names.get(as);
      if (prev !== undefined && prev !== fact) this.fail(`${at}.as`, `"${as}" names selections of different facts`);
      scope.names.set(as, fact);
    };
    if ('subject' in c) {
      if (!scope.subjectFact) this.fail(at, 'this finding has no subject');
      return { kind: 'subject', test: this.itemTest(c.subject, ctx, `${at}.subject`, { fact: scope.subjectFact, relationsOf: scope.subjectFact, scope }) };
    }
    if ('latest' in c || 'nearest' in c || 'series' in c) {
      const kindName = 'latest' in c ? 'latest' : 'nearest' in c ? 'nearest' : 'series';
      const sourceName = (c as unknown as Record<string, string>)[kindName]!;
      const fact = this.source(sourceName, scope, `${at}.${kindName}`);
      const sel = c as Clause & ItemTestDef & { as?: string; where?: ItemTestDef; exists?: boolean };
      const where = sel.where ? this.itemTest(sel.where, ctx, `${at}.where`, { fact, relationsOf: fact, scope }) : undefined;
      const test = this.itemTest(pickItemTest(sel), ctx, at, { fact, relationsOf: fact, scope });
      bind(sel.as, fact);
      if ('latest' in c) return { kind: 'latest', source: sourceName, as: sel.as, where, test, exists: sel.exists };
      if ('nearest' in c) {
        if (!scope.subjectFact) this.fail(at, 'nearest needs a finding subject to be near to');
        return { kind: 'nearest', source: sourceName, as: sel.as, where, test, exists: sel.exists, before: this.dur(c.window.before, ctx, `${at}.window.before`), after: this.dur(c.window.after, ctx, `${at}.window.after`) };
      }
      const s = c as Extract<Clause, { series: string }>;
      if (s.includesSubject && !scope.subjectFact) this.fail(`${at}.includesSubject`, 'this finding has no subject');
      if (Object.keys(pickItemTest(sel)).length > 0) this.fail(at, 'a series is filtered with "where"; item tests belong there');
      return {
        kind: 'series',
        source: sourceName,
        as: s.as,
        where,
        exists: s.exists,
        count: s.count ? { atLeast: optNum(this, s.count.atLeast, ctx, `${at}.count.atLeast`), atMost: optNum(this, s.count.atMost, ctx, `${at}.count.atMost`) } : undefined,
        span: s.span ? { atLeast: s.span.atLeast ? this.dur(s.span.atLeast, ctx, `${at}.span.atLeast`) : undefined, below: s.span.below ? this.dur(s.span.below, ctx, `${at}.span.below`) : undefined } : undefined,
        slope: s.slope ? this.valueTest(s.slope, ctx, `${at}.slope`) : undefined,
        lastToFirst: s.lastToFirst ? this.valueTest(s.lastToFirst, ctx, `${at}.lastToFirst`) : undefined,
        cv: s.cv ? this.valueTest(s.cv, ctx, `${at}.cv`) : undefined,
        monotonic: s.monotonic,
        includesSubject: s.includesSubject,
        varies:
          s.varies === undefined
            ? undefined
            : typeof s.varies === 'string'
              ? [this.fhirpath(s.varies, `${at}.varies`, this.def.facts[fact]?.resourceTypes)]
              : s.varies.map((e, i) => this.fhirpath(e, `${at}.varies[${i}]`, this.def.facts[fact]?.resourceTypes)),
      };
    }
    if ('patient' in c) return { kind: 'patient', test: this.fhirpath(c.patient, `${at}.patient`, ['Patient']) };
    if ('finding' in c) {
      if (!scope.findingCodes.includes(c.finding)) this.missing('finding', c.finding, `${at}.finding`, `"${c.finding}" is not a finding listed before this one`);
      return { kind: 'finding', code: c.finding };
    }
    if ('not' in c) return { kind: 'not', clause: this.clause(c.not, { ...scope, names: new Map(scope.names) }, `${at}.not`) };
    if ('allOf' in c) return { kind: 'allOf', variant: c.variant, clauses: c.allOf.map((x, i) => this.clause(x, scope, `${at}.allOf[${i}]`)) };
    return { kind: 'anyOf', clauses: c.anyOf.map((x, i) => this.clause(x, scope, `${at}.anyOf[${i}]`)) };
  }

  /** `opts.fact`: the fact whose items are tested; `opts.relationsOf`: the fact whose relations `has`/`lacks` may name. */
  private itemTest(t: ItemTestDef, ctx: ProfileContext, at: string, opts: { fact: string; relationsOf: string | undefined; scope?: Scope }): ItemTest {
    const out: ItemTest = {};
    if (t.value) {
      out.value = this.valueTest(t.value, ctx, `${at}.value`);
      this.checkThresholdUnits(t.value, opts.fact, `${at}.value`);
    }
    if (t.exact !== undefined) out.exact = t.exact;
    for (const key of ['has', 'lacks'] as const) {
      const rel = t[key];
      if (rel === undefined) continue;
      const relations = opts.scope?.relations ?? {};
      if (relations[rel]?.of !== opts.relationsOf || !opts.relationsOf) this.missing('relation', rel, `${at}.${key}`, `"${rel}" is not a relation of these items`);
      out[key] = rel;
    }
    if (t.within) out.within = this.dur(t.within, ctx, `${at}.within`);
    if (t.olderThan) out.olderThan = this.dur(t.olderThan, ctx, `${at}.olderThan`);
    if (t.activeWithin) out.activeWithin = this.dur(t.activeWithin, ctx, `${at}.activeWithin`);
    if (t.fhirpath) out.fhirpath = this.fhirpath(t.fhirpath, `${at}.fhirpath`, this.def.facts[opts.fact]?.resourceTypes);
    return out;
  }

  /**
   * The engine compares a fact's values (in the fact's unit) with a parameter's number as it stands, so a
   * threshold given in another unit (mg/dL against values in mg/L) would be off by that factor, silently.
   * A parameter without a unit is taken to be in the fact's unit.
   */
  private checkThresholdUnits(t: ValueTestDef, fact: string, at: string): void {
    const factUnit = this.def.facts[fact]?.value?.unit;
    if (factUnit === undefined || this.broken.has(`fact:${fact}`)) return;
    for (const k of VALUE_TEST_KEYS) {
      const ref = t[k];
      if (typeof ref !== 'string' || !ref.startsWith('$') || this.broken.has(`parameter:${ref.slice(1)}`)) continue;
      const unit = this.def.parameters[ref.slice(1)]?.unit;
      if (unit !== undefined && unit !== factUnit) this.fail(`${at}.${k}`, `parameter ${ref} is in ${unit}, but the values of fact "${fact}" are in ${factUnit}; values and thresholds are compared as numbers: give it in ${factUnit}`);
    }
  }

  private valueTest(t: ValueTestDef, ctx: ProfileContext, at: string): ValueTest {
    const out: ValueTest = {};
    for (const k of VALUE_TEST_KEYS) {
      if (t[k] !== undefined) out[k] = this.num(t[k]!, ctx, `${at}.${k}`);
    }
    return out;
  }

  private num(ref: number | string, ctx: ProfileContext, at: string): number {
    if (typeof ref === 'number') return ref;
    const name = ref.slice(1);
    if (name in ctx.numbers) return ctx.numbers[name]!;
    if (name in ctx.durations) return this.fail(at, `parameter ${ref} is a duration, a number is needed`);
    return this.missing('parameter', name, at, `unknown parameter ${ref}`);
  }

  private dur(ref: string, ctx: ProfileContext, at: string): Duration {
    if (!ref.startsWith('$')) return parseDuration(ref) ?? this.fail(at, `"${ref}" is not a duration such as "14 days"`);
    const name = ref.slice(1);
    if (name in ctx.durations) return ctx.durations[name]!;
    if (name in ctx.numbers) return this.fail(at, `parameter ${ref} is a number, a duration is needed`);
    return this.missing('parameter', name, at, `unknown parameter ${ref}`);
  }

  /** A fact's accepted units: each must convert to the fact's unit (a typo would otherwise exclude every result). */
  private acceptedUnits(units: string[], target: string, at: string): ReadonlySet<string> {
    for (const u of units) this.requireConvertible(u, target, at);
    return new Set(units);
  }

  /** Fails at `at` unless UCUM converts `unit` to `target`. */
  private requireConvertible(unit: string, target: string, at: string): void {
    if ('error' in convert(1, unit, target)) this.fail(at, `unit "${unit}" cannot be converted to ${target}`);
  }

  /**
   * A fact's unit readings: each must name a UCUM unit that converts to the fact's unit, and none may re-read a unit
   * UCUM already converts to it (0.014 m[IU]/mL would be read as 0.014 µIU/mL).
   */
  private unitReadings(readings: Record<string, string>, target: string, at: string): ReadonlyMap<string, string> {
    for (const [text, u] of Object.entries(readings)) {
      this.requireConvertible(u, target, `${at}.${text}`);
      if (!('error' in convert(1, text, target))) this.fail(`${at}.${text}`, `"${text}" is already a UCUM unit that converts to ${target}; reading it as "${u}" would change its value`);
    }
    return new Map(Object.entries(readings));
  }

  /** Compiles `expression`; with `resourceTypes` (what it is read on), it must name only elements they have. */
  private fhirpath(expression: string, at: string, resourceTypes?: readonly string[]): Compiled {
    let compiled = this.fhirpathCache.get(expression);
    if (!compiled) {
      const problem = checkExpression(expression, this.knownVars);
      if (problem) this.fail(at, `${problem} in "${expression}"`);
      try {
        compiled = compileFhirPath(expression);
      } catch (err) {
        return this.fail(at, `FHIRPath error in "${expression}": ${(err as Error).message}`);
      }
      this.fhirpathCache.set(expression, compiled);
    }
    const checkKey = resourceTypes && `${resourceTypes.join()}\u0000${expression}`;
    if (checkKey && !this.elementsChecked.has(checkKey)) {
      this.elementsChecked.add(checkKey);
      const problem = checkElements(expression, resourceTypes!);
      if (problem) this.fail(at, `${problem} (in "${expression}"); the path is empty on every valid resource`);
    }
    return compiled;
  }


  private checkPlaceholders(text: string, scope: Scope, at: string, hasVariants: boolean): void {
    for (const part of parseTemplate(text)) {
      if (typeof part === 'string') continue;
      const expr = part.expr;
      if (expr === 'variant') {
        if (!hasVariants) this.fail(at, '{{variant}} is used but no clause names a variant');
        continue;
      }
      if (expr.startsWith('$')) {
        if (!(expr.slice(1) in this.def.parameters)) this.fail(at, `unknown parameter {{${expr}}}`);
        continue;
      }
      const [name, field, extra] = expr.split('.');
      if (!name || !field || extra !== undefined) this.fail(at, `placeholder {{${expr}}} must be {{selection.field}}, {{$parameter}} or {{variant}}`);
      if (name === 'subject') {
        if (!scope.subjectFact) this.fail(at, `{{${expr}}}: this finding has no subject`);
        if (!SELECTION_FIELDS.includes(field) && scope.relations[field]?.of !== scope.subjectFact) this.fail(at, `{{${expr}}}: "${field}" is not a field of a result (${SELECTION_FIELDS.join(', ')}) nor a relation of the subject`);
        continue;
      }
      if (!scope.names.has(name)) this.fail(at, `{{${expr}}}: "${name}" is not a selection of this finding`);
      if (!SELECTION_FIELDS.includes(field) && !SERIES_FIELDS.includes(field)) this.fail(at, `{{${expr}}}: unknown field "${field}"`);
    }
  }
}

interface ProfileContext {
  numbers: Record<string, number>;
  durations: Record<string, Duration>;
}

interface Scope {
  facts: Record<string, CompiledFact>;
  relations: Record<string, CompiledRelation>;
  sets: Record<string, CompiledSet>;
  ctx: ProfileContext;
  findingCodes: string[];
  /** Named selections (`as:`) of the finding being compiled → the fact their items come from. */
  names: Map<string, string>;
  subjectFact?: string;
}

function optNum(c: Compiler, v: number | string | undefined, ctx: ProfileContext, at: string): number | undefined {
  return v === undefined ? undefined : (c as unknown as { num: (r: number | string, x: ProfileContext, a: string) => number }).num(v, ctx, at);
}

const VALUE_TEST_KEYS = ['above', 'atLeast', 'below', 'atMost', 'sideOf', 'notAbove'] as const;

function pickItemTest(sel: ItemTestDef): ItemTestDef {
  const { value, exact, has, lacks, within, olderThan, activeWithin, fhirpath } = sel;
  return Object.fromEntries(Object.entries({ value, exact, has, lacks, within, olderThan, activeWithin, fhirpath }).filter(([, v]) => v !== undefined));
}

/** Does the clause refer to the finding's subject (directly, or by being near it)? */
function needsSubject(c: Clause): boolean {
  if ('subject' in c || 'nearest' in c) return true;
  if ('series' in c && c.includesSubject) return true;
  if ('allOf' in c) return c.allOf.some(needsSubject);
  if ('anyOf' in c) return c.anyOf.some(needsSubject);
  if ('not' in c) return needsSubject(c.not);
  return false;
}

function collectVariants(clauses: Clause[]): Set<string> {
  const out = new Set<string>();
  eachClause(clauses, (c) => {
    if ('allOf' in c && c.variant) out.add(c.variant);
  });
  return out;
}

/** Visits these clauses and every clause inside them (through allOf, anyOf and not). */
function eachClause(clauses: Clause[], fn: (c: Clause) => void): void {
  const visit = (c: Clause) => {
    fn(c);
    if ('allOf' in c) c.allOf.forEach(visit);
    else if ('anyOf' in c) c.anyOf.forEach(visit);
    else if ('not' in c) visit(c.not);
  };
  clauses.forEach(visit);
}

/** Splits "IL-6 {{subject.value}} on {{subject.date}}" into literal text and placeholders. */
export function parseTemplate(text: string): Template {
  const parts: Template = [];
  let last = 0;
  for (const m of text.matchAll(/\{\{\s*(.+?)\s*\}\}/g)) {
    if (m.index! > last) parts.push(text.slice(last, m.index));
    parts.push({ expr: m[1]! });
    last = m.index! + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
