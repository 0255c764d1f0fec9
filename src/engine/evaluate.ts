/**
 * Evaluates a loaded rule set against the resources of one hook call.
 *
 * Work per request is bounded and done once: resources are indexed by type; each fact's FHIRPath runs once
 * per candidate resource (candidates pre-selected by code); relations compare numbers (times) only. Findings
 * are evaluated in file order and keep every selection they made, so cards can cite their evidence.
 * A FHIRPath error on some odd resource never fails the hook: the resource is skipped for that expression and
 * the error is reported in `errors` for the log.
 */
import type { FhirResource, Patient } from 'fhir/r4';
import { CodeSetMatcher, POOL_VAR, type Compiled } from './fhirpath';
import type { CompiledClause, CompiledFact, CompiledFinding, CompiledNote, Item, ItemTest, Profile, RelationMatch, RuleSet } from './model';
import { bandOf, normaliseQuantity, parseValueString, passes, type Measured, type Normalised, type ValueTest } from './quantity';
import { clipRecordText } from './record-text';
import { coefficientOfVariation, isMonotonic, lastToFirst, slopePerDay, type Point } from './temporal';
import { formatDuration, parseFhirTime, shift, type Duration } from './time';
import type { CardTextDef, SuggestionDef } from './rule-file';

export interface EvaluationInput {
  resources: FhirResource[];
  /** The patient of the hook (`context.patientId`); picks the Patient resource for `%patient`. */
  patientId?: string;
  /** Evaluation time in epoch ms ("now" of every "within N months"). */
  now: number;
}

export type Selection = Item | Item[];

export interface ChecklistResult {
  label: string;
  known: Item[];
}

export interface Finding {
  def: CompiledFinding;
  code: string;
  indicator: 'info' | 'warning' | 'critical';
  variant?: string;
  subject?: Item;
  /** Named selections (`as:`) that held when the finding fired. */
  selections: Map<string, Selection>;
  notes: CompiledNote[];
  checklist?: { title: string; knownTitle: string; open: string[]; known: ChecklistResult[] };
  /** Suggestions of the card's text whose `unless` clause held, with the selections that clause named. */
  notSuggested: Map<SuggestionDef, Map<string, Selection>>;
}

export interface EvaluationError {
  where: string;
  message: string;
}

interface ClauseState {
  subject?: Item;
  selections: Map<string, Selection>;
  variant?: string;
}

const SEVERITY = { info: 0, warning: 1, critical: 2 } as const;
/** Facts read only the past (a record dated later has not happened yet); this much allows for the EHR's clock running ahead of ours. */
const FUTURE_TOLERANCE_MS = 60 * 60_000;
/** Durations are objects of the loaded rule set, so this holds one entry per lookback of the rule files. */
const OLDER_THAN = new WeakMap<Duration, string>();

export class Evaluation {
  readonly findings: Finding[] = [];
  readonly errors: EvaluationError[] = [];
  readonly patient?: Patient;
  private readonly byType = new Map<string, FhirResource[]>();
  private readonly pool = new Map<string, FhirResource>();
  private readonly env: Record<string, unknown>;
  private readonly items = new Map<string, Item[]>();
  private readonly relations = new Map<string, Map<Item, RelationMatch[]>>();
  private readonly sets = new Map<string, Item[]>();
  /** Fact name → resources its code pre-selection admits (built on first use, one pass over the resources). */
  private candidates?: Map<string, FhirResource[]>;
  private readonly fired = new Set<string>();
  private readonly cutoffs = new Map<Duration, number>();

  constructor(
    readonly ruleSet: RuleSet,
    readonly profile: Profile,
    readonly input: EvaluationInput,
  ) {
    for (const r of input.resources) {
      let list = this.byType.get(r.resourceType);
      if (!list) this.byType.set(r.resourceType, (list = []));
      list.push(r);
      if (r.id) this.pool.set(`${r.resourceType}/${r.id}`, r);
    }
    const patients = (this.byType.get('Patient') ?? []) as Patient[];
    // Never another patient's: without a patientId (tools, tests) a lone Patient is the one.
    this.patient = input.patientId !== undefined ? patients.find((p) => p.id === input.patientId) : patients.length === 1 ? patients[0] : undefined;
    this.env = { ...profile.numbers, ...ruleSet.codeSets, patient: this.patient ?? [], [POOL_VAR]: this.pool };
    for (const f of profile.findings) this.evaluateFinding(f);
  }

  /** All items of a fact, excluded ones included (they carry `excluded`), in time order. */
  factItems(fact: string): Item[] {
    let list = this.items.get(fact);
    if (!list) {
      list = this.extract(this.profile.facts[fact]!);
      this.items.set(fact, list);
    }
    return list;
  }

  /** Matches of a relation for one item (empty when none). */
  relationMatches(relation: string, item: Item): RelationMatch[] {
    return this.relationIndex(relation).get(item) ?? [];
  }

  // ---- facts ---------------------------------------------------------------------------------------------

  private extract(fact: CompiledFact): Item[] {
    const out: Item[] = [];
    const pool = fact.code ? (this.codeCandidates().get(fact.name) ?? []) : [...fact.resourceTypes].flatMap((t) => this.byType.get(t) ?? []);
    for (const r of pool) {
      if (fact.where && !this.test(fact.where, r, fact.name)) continue;
      out.push(this.toItem(fact, r, out.length));
    }
    out.sort(byTime);
    replaceRevised(out);
    return out;
  }

  private codeCandidates(): Map<string, FhirResource[]> {
    if (this.candidates) return this.candidates;
    const candidates = new Map<string, FhirResource[]>();
    for (const group of this.profile.codeIndexes) {
      for (const type of group.resourceTypes) {
        for (const r of this.byType.get(type) ?? []) {
          for (const c of CodeSetMatcher.codings(this.eval(group.compiled, r, group.path))) {
            group.index.factsFor(c.system, c.code, (fact) => {
              if (!this.profile.facts[fact]!.resourceTypes.has(type)) return;
              let list = candidates.get(fact);
              if (!list) candidates.set(fact, (list = []));
              if (list[list.length - 1] !== r) list.push(r);
            });
          }
        }
      }
    }
    return (this.candidates = candidates);
  }

  private toItem(fact: CompiledFact, r: FhirResource, n: number): Item {
    // Every field from the start: one object shape for all items (fields added later would change it per fact).
    const item: Item = { fact: fact.name, resource: r, ref: `${r.resourceType}/${r.id ?? `#${n}`}`, ongoing: false, time: undefined, end: undefined, timeText: undefined, endText: undefined, measured: undefined, band: undefined, label: undefined, excluded: undefined };
    if (fact.label) {
      const label = this.eval(fact.label, r, fact.name).find((v) => typeof v === 'string' && v.trim() !== '');
      if (typeof label === 'string') item.label = clipRecordText(label);
    }
    for (const x of fact.exclude) {
      if (this.test(x.when, r, fact.name)) {
        item.excluded = x.reason.template
          .map((p) => (typeof p === 'string' ? p : clipRecordText(this.eval(x.reason.compiled.get(p.expr)!, r, fact.name).map(String).join(', ')) || '(none)'))
          .join('');
        break;
      }
    }
    item.time = this.firstTime(fact.time, r, fact.name, item, 'timeText');
    if (fact.end.length > 0) item.end = this.firstTime(fact.end, r, fact.name, item, 'endText');
    if (fact.ongoing) item.ongoing = this.test(fact.ongoing, r, fact.name);
    // Going on with no date on record (an active order without dates): it may have started at any time before.
    if (item.time === undefined && item.ongoing) item.time = -Infinity;
    if (item.time === undefined) item.excluded ??= 'no date or time';
    if (fact.value) {
      const v = this.measure(fact, r);
      if ('measured' in v) {
        item.measured = v.measured;
        if (fact.band) item.band = bandOf(v.measured, this.profile.bands[fact.band]!);
      } else {
        item.excluded ??= v.problem;
      }
    }
    if (item.time !== undefined && Number.isFinite(item.time)) {
      if (fact.lookback && item.time < this.cutoff(fact.lookback)) item.excluded ??= this.olderThan(fact.lookback);
      else if (item.time > this.input.now + FUTURE_TOLERANCE_MS) item.excluded ??= 'dated after the time of this evaluation';
    }
    return item;
  }

  private measure(fact: CompiledFact, r: FhirResource): Normalised {
    const spec = fact.value!;
    const v = this.eval(spec.path, r, fact.name)[0];
    if (v === undefined || v === null) return { problem: 'no value' };
    if (typeof v === 'object' && 'value' in v) return normaliseQuantity(v, spec.unit, spec);
    if (typeof v === 'string') {
      if (!spec.fromString) return { problem: `value "${v}" is text, not a quantity` };
      const fallback = spec.fromString.unitFallback ? this.eval(spec.fromString.unitFallback, r, fact.name).find((u) => typeof u === 'string') : undefined;
      const q = parseValueString(v, fallback as string | undefined);
      if (!q) return { problem: `value "${v}" is not a number` };
      if (spec.fromString.comparatorsOnly && !q.comparator) return { problem: `value "${v}" is text; only a comparator value (such as "<1.5") is read from text` };
      return normaliseQuantity(q, spec.unit, spec);
    }
    if (typeof v === 'number' && /^(1|\{[^}]*\})$/.test(spec.unit)) {
      const measured: Measured = { value: v, unit: spec.unit, reported: String(v) };
      return { measured };
    }
    return { problem: typeof v === 'number' ? `value ${v} has no unit` : 'value is not a quantity' };
  }

  /** The first time the expressions give; its text is kept in `item[text]` (how the record wrote it). */
  private firstTime(exprs: Compiled[], r: FhirResource, where: string, item: Item, text: 'timeText' | 'endText'): number | undefined {
    for (const e of exprs) {
      for (const v of this.eval(e, r, where)) {
        const t = parseFhirTime(v);
        if (t === undefined) continue;
        item[text] = v as string;
        return t;
      }
    }
    return undefined;
  }

  // ---- relations and sets --------------------------------------------------------------------------------

  private relationIndex(name: string): Map<Item, RelationMatch[]> {
    let index = this.relations.get(name);
    if (index) return index;
    index = new Map();
    this.relations.set(name, index);
    const rel = this.profile.relations[name]!;
    const subjects = this.factItems(rel.of).filter((i) => !i.excluded);
    for (const rule of rel.rules) {
      // In time order (factItems are sorted, and an item that is not excluded has a time).
      const candidates = this.factItems(rule.fact).filter((c) => !c.excluded && (!rule.where || this.passes(c, rule.where)));
      if (candidates.length === 0) continue;
      const windows = new CandidateWindows(candidates);
      const hits: Item[] = [];
      for (const s of subjects) {
        const lo = shift(s.time!, rule.window.before, -1);
        const hi = shift(s.time!, rule.window.after, 1);
        hits.length = 0;
        if (rule.window.match === 'time') windows.startingIn(lo, hi, hits);
        else windows.overlapping(lo, hi, hits);
        if (hits.length === 0) continue;
        let list = index.get(s);
        if (!list) index.set(s, (list = []));
        for (const c of hits) list.push({ rule, item: c });
      }
    }
    return index;
  }

  private source(name: string, state: ClauseState): Item[] {
    const bound = state.selections.get(name);
    if (bound) return Array.isArray(bound) ? bound : [bound];
    const set = this.profile.sets[name];
    if (!set) {
      // A selection its finding did not bind (an alternative that did not hold) selects nothing.
      if (!this.profile.facts[name]) return [];
      return this.factItems(name).filter((i) => !i.excluded);
    }
    let list = this.sets.get(name);
    if (!list) {
      list = this.factItems(set.from).filter((i) => !i.excluded && set.without.every((r) => this.relationMatches(r, i).length === 0));
      this.sets.set(name, list);
    }
    return list;
  }

  // ---- findings ------------------------------------------------------------------------------------------

  private evaluateFinding(f: CompiledFinding): void {
    const state: ClauseState = { selections: new Map() };
    if (f.subject) {
      state.subject = latest(this.source(f.subject, state));
      if (!state.subject) return;
    }
    if (!f.when.every((c) => this.clause(c, state))) return;
    let indicator = f.indicator.default;
    for (const r of f.indicator.raise) {
      if (SEVERITY[r.to] > SEVERITY[indicator] && this.clause(r.when, fork(state))) indicator = r.to;
    }
    const notes = f.notes.filter((n) => n.when.every((c) => this.clause(c, fork(state))));
    const notSuggested = new Map<SuggestionDef, Map<string, Selection>>();
    for (const s of f.card.suggestionUnless.size > 0 ? (cardText(f, state.variant).suggestions ?? []) : []) {
      const unless = f.card.suggestionUnless.get(s);
      if (!unless) continue;
      const own = fork(state);
      if (this.clause(unless, own)) notSuggested.set(s, own.selections);
    }
    const finding: Finding = { def: f, code: f.code, indicator, variant: state.variant, subject: state.subject, selections: state.selections, notes, notSuggested };
    const cl = f.card.checklist;
    if (cl) {
      const open: string[] = [];
      const known: ChecklistResult[] = [];
      for (const item of cl.items) {
        if (item.compiledWhen && !this.clause(item.compiledWhen, fork(state))) continue;
        const k = this.factItems(item.knownFrom).filter((i) => !i.excluded);
        if (k.length > 0) known.push({ label: item.label, known: k });
        else open.push(item.label);
      }
      finding.checklist = { title: cl.title, knownTitle: cl.knownTitle, open, known };
    }
    this.findings.push(finding);
    this.fired.add(f.code);
  }

  private clause(c: CompiledClause, state: ClauseState): boolean {
    switch (c.kind) {
      case 'subject':
        return !!state.subject && this.passes(state.subject, c.test);
      case 'latest':
      case 'nearest': {
        let pool = this.source(c.source, state);
        if (c.where) pool = pool.filter((i) => this.passes(i, c.where!));
        const pick = c.kind === 'latest' ? latest(pool) : this.nearest(pool, state.subject, c.before, c.after);
        if (c.exists === false) return !pick;
        if (!pick || !this.passes(pick, c.test)) return false;
        if (c.as) state.selections.set(c.as, pick);
        return true;
      }
      case 'series': {
        let list = this.source(c.source, state);
        if (c.where) list = list.filter((i) => this.passes(i, c.where!));
        if (c.exists !== undefined && list.length > 0 !== c.exists) return false;
        if (c.includesSubject && (!state.subject || !list.includes(state.subject))) return false;
        if (c.count?.atLeast !== undefined && list.length < c.count.atLeast) return false;
        if (c.count?.atMost !== undefined && list.length > c.count.atMost) return false;
        if (!this.seriesPasses(c, list)) return false;
        if (c.as) state.selections.set(c.as, list);
        return true;
      }
      case 'patient':
        return !!this.patient && this.test(c.test, this.patient, 'patient');
      case 'finding':
        return this.fired.has(c.code);
      case 'not':
        return !this.clause(c.clause, fork(state));
      case 'allOf': {
        const inner = fork(state);
        if (!c.clauses.every((x) => this.clause(x, inner))) return false;
        for (const [k, v] of inner.selections) state.selections.set(k, v);
        state.variant ??= c.variant ?? inner.variant;
        return true;
      }
      case 'anyOf': {
        // Every alternative is evaluated, so the card can cite all that hold (e.g. each metabolic marker).
        let any = false;
        for (const x of c.clauses) any = this.clause(x, state) || any;
        return any;
      }
    }
  }

  private seriesPasses(c: Extract<CompiledClause, { kind: 'series' }>, list: Item[]): boolean {
    if (c.span) {
      // Calendar-aware: "span at least 1 month" from 31 Jan is reached on 28/29 Feb.
      const first = list[0]?.time;
      const last = list[list.length - 1]?.time;
      if (first === undefined || last === undefined) return false;
      if (c.span.atLeast && !(list.length >= 2 && last >= shift(first, c.span.atLeast, 1))) return false;
      if (c.span.below && !(last < shift(first, c.span.below, 1))) return false;
    }
    if (c.slope || c.lastToFirst || c.cv || c.monotonic !== undefined) {
      const points = toPoints(list);
      if (points.length < 2) return false;
      if (c.slope && !numberPasses(slopePerDay(points), c.slope)) return false;
      if (c.lastToFirst && !numberPasses(lastToFirst(points), c.lastToFirst)) return false;
      if (c.cv && !numberPasses(coefficientOfVariation(points), c.cv)) return false;
      if (c.monotonic !== undefined && isMonotonic(points) !== c.monotonic) return false;
    }
    if (c.varies && !c.varies.some((e) => this.differ(e, list))) return false;
    return true;
  }

  /**
   * Whether the items give different values for `e`, each item's values taken as a set (one lab named twice on a
   * result is one lab); an item for which it gives nothing is not compared.
   */
  private differ(e: Compiled, items: Item[]): boolean {
    let first: string | undefined;
    for (const i of items) {
      const values = this.eval(e, i.resource, 'varies');
      if (values.length === 0) continue;
      const key = JSON.stringify([...new Set(values.map(String))].sort());
      if (first === undefined) first = key;
      else if (key !== first) return true;
    }
    return false;
  }

  private nearest(pool: Item[], subject: Item | undefined, before: Duration, after: Duration): Item | undefined {
    if (!subject?.time) return undefined;
    const t = subject.time;
    const lo = shift(t, before, -1);
    const hi = shift(t, after, 1);
    let best: Item | undefined;
    for (const i of pool) {
      if (i.time! < lo || i.time! > hi) continue;
      const d = Math.abs(i.time! - t);
      // Ties: the later; at the same time, the later in the fact's order (reported later, or a correction), as `latest`.
      if (!best || d < Math.abs(best.time! - t) || (d === Math.abs(best.time! - t) && i.time! >= best.time!)) best = i;
    }
    return best;
  }

  private passes(item: Item, t: ItemTest): boolean {
    if (t.value && !(item.measured && passes(item.measured, t.value))) return false;
    if (t.exact !== undefined && (!item.measured || (item.measured.comparator === undefined) !== t.exact)) return false;
    if (t.has && this.relationMatches(t.has, item).length === 0) return false;
    if (t.lacks && this.relationMatches(t.lacks, item).length > 0) return false;
    if (t.within && !(item.time !== undefined && item.time >= this.cutoff(t.within))) return false;
    if (t.olderThan && !(item.time !== undefined && item.time < this.cutoff(t.olderThan))) return false;
    if (t.activeWithin && !this.activeWithin(item, t.activeWithin)) return false;
    if (t.fhirpath && !this.test(t.fhirpath, item.resource, item.fact)) return false;
    return true;
  }

  /** Started by now, and ongoing or ended (its end, else its start) no longer than `d` ago. */
  private activeWithin(item: Item, d: Duration): boolean {
    if (item.time === undefined || item.time > this.input.now) return false;
    return item.ongoing || (item.end ?? item.time) >= this.cutoff(d);
  }

  /** The exclusion reason of results past a lookback, one string per duration. */
  private olderThan(d: Duration): string {
    let reason = OLDER_THAN.get(d);
    if (reason === undefined) OLDER_THAN.set(d, (reason = `older than ${formatDuration(d)}`));
    return reason;
  }

  /** now − d, memoised per duration. */
  private cutoff(d: Duration): number {
    let c = this.cutoffs.get(d);
    if (c === undefined) this.cutoffs.set(d, (c = shift(this.input.now, d, -1)));
    return c;
  }

  // ---- FHIRPath ------------------------------------------------------------------------------------------

  private eval(expr: Compiled, resource: unknown, where: string): unknown[] {
    try {
      return expr(resource, this.env);
    } catch (err) {
      if (this.errors.length < 20) this.errors.push({ where, message: (err as Error).message });
      return [];
    }
  }

  private test(expr: Compiled, resource: unknown, where: string): boolean {
    const r = this.eval(expr, resource, where);
    return r.length === 1 && r[0] === true;
  }
}

export function evaluate(ruleSet: RuleSet, profile: string, input: EvaluationInput): Evaluation {
  const p = Object.hasOwn(ruleSet.profiles, profile) ? ruleSet.profiles[profile] : undefined;
  if (!p) throw new Error(`Rule set ${ruleSet.id} has no profile "${profile}"`);
  return new Evaluation(ruleSet, p, input);
}

/**
 * The candidates of a relation rule (in time order) and what finds those in a subject's window without
 * testing every one: a binary search for times in [lo, hi], and for intervals a tree of the latest end under
 * each range of candidates, so only branches that can reach `lo` are visited. Hits come in candidate order,
 * exactly as testing every candidate would give them; a relation of n subjects and m candidates costs
 * O(n log m + hits) instead of O(n·m).
 */
export class CandidateWindows {
  private readonly starts: number[];
  private readonly maxEnd: number[];
  private readonly size: number;

  constructor(private readonly items: Item[]) {
    this.starts = items.map((c) => c.time!);
    let size = 1;
    while (size < items.length) size *= 2;
    this.size = size;
    this.maxEnd = new Array<number>(2 * size).fill(-Infinity);
    items.forEach((c, i) => (this.maxEnd[size + i] = c.ongoing ? Infinity : (c.end ?? c.time!)));
    for (let n = size - 1; n >= 1; n--) this.maxEnd[n] = Math.max(this.maxEnd[2 * n]!, this.maxEnd[2 * n + 1]!);
  }

  /** Candidates whose time is within [lo, hi]. */
  startingIn(lo: number, hi: number, out: Item[]): void {
    for (let i = this.firstAbove(lo, false); i < this.items.length && this.starts[i]! <= hi; i++) out.push(this.items[i]!);
  }

  /** Candidates that start by `hi` and end (or are ongoing) at or after `lo`. */
  overlapping(lo: number, hi: number, out: Item[]): void {
    this.collect(1, 0, this.size, this.firstAbove(hi, true), lo, out);
  }

  /** First index whose start is ≥ t (or > t with `strict`); the starts are sorted. */
  private firstAbove(t: number, strict: boolean): number {
    let a = 0;
    let b = this.items.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (strict ? this.starts[m]! <= t : this.starts[m]! < t) a = m + 1;
      else b = m;
    }
    return a;
  }

  /** In index order, the candidates below `limit` in tree node `node` (covering [from, to)) that end at or after `lo`. */
  private collect(node: number, from: number, to: number, limit: number, lo: number, out: Item[]): void {
    if (from >= limit || this.maxEnd[node]! < lo) return;
    if (to - from === 1) {
      out.push(this.items[from]!);
      return;
    }
    const mid = (from + to) >> 1;
    this.collect(2 * node, from, mid, limit, lo, out);
    this.collect(2 * node + 1, mid, to, limit, lo, out);
  }
}

/** The card text of a finding: its base text with the fields of the variant that held. */
export function cardText(f: CompiledFinding, variant: string | undefined): CardTextDef {
  return { ...f.card.base, ...(variant ? f.card.variants[variant] : {}) };
}

function fork(state: ClauseState): ClauseState {
  return { subject: state.subject, selections: new Map(state.selections), variant: undefined };
}

/**
 * Time order; at the same time, a corrected or amended result comes after the others, then the one reported later
 * (`issued`, else `meta.lastUpdated`), as a correction does.
 */
function byTime(a: Item, b: Item): number {
  const ta = a.time ?? Infinity;
  const tb = b.time ?? Infinity;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (
    Number(isRevision(a)) - Number(isRevision(b)) ||
    (reportedAt(a) ?? -Infinity) - (reportedAt(b) ?? -Infinity) ||
    (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)
  );
}

function isRevision(i: Item): boolean {
  const status = (i.resource as { status?: unknown }).status;
  return status === 'corrected' || status === 'amended';
}

/**
 * A corrected or amended result replaces the others of its fact drawn at the same time with a code in common (the
 * same test reported again): they are excluded, so that a replaced value neither counts nor is the latest.
 * `items` is in time order (byTime), so the revision is the last of its time.
 */
function replaceRevised(items: Item[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const revision = items[i]!;
    if (!isRevision(revision) || revision.time === undefined || !Number.isFinite(revision.time)) continue;
    for (let j = i - 1; j >= 0 && items[j]!.time === revision.time; j--) {
      if (sharesCode(items[j]!, revision)) items[j]!.excluded ??= `replaced by the ${(revision.resource as { status: string }).status} result of the same time`;
    }
  }
}

function sharesCode(a: Item, b: Item): boolean {
  const codings = (i: Item) => ((i.resource as { code?: { coding?: { system?: unknown; code?: unknown }[] } }).code?.coding ?? []).filter((c) => c && typeof c.code === 'string');
  const of = new Set(codings(a).map((c) => `${String(c.system)}|${String(c.code)}`));
  return codings(b).some((c) => of.has(`${String(c.system)}|${String(c.code)}`));
}

function reportedAt(i: Item): number | undefined {
  const r = i.resource as { issued?: unknown; meta?: { lastUpdated?: unknown } };
  return parseFhirTime(r.issued) ?? parseFhirTime(r.meta?.lastUpdated);
}

function latest(items: Item[]): Item | undefined {
  let best: Item | undefined;
  for (const i of items) if (i.time !== undefined && (!best || i.time >= best.time!)) best = i;
  return best;
}

/** The exact values of a series, in time order (comparator values are never treated as exact). */
export function toPoints(items: Item[]): Point[] {
  return items.filter((i) => i.measured && !i.measured.comparator && i.time !== undefined).map((i) => ({ t: i.time!, v: i.measured!.value }));
}

function numberPasses(x: number | undefined, t: ValueTest): boolean {
  return x !== undefined && passes({ value: x, unit: '1', reported: '' }, t);
}

