/**
 * A rule file after loading: every reference checked, every FHIRPath expression compiled, every parameter
 * resolved for each profile. Built once at start-up (`load.ts`), read per request (`evaluate.ts`).
 */
import type { FhirResource } from 'fhir/r4';
import type { Band, GreaterThanReading, Measured, ValueTest } from './quantity';
import type { CodeIndex } from './code-sets';
import type { CodeSetMatcher, Compiled } from './fhirpath';
import type { Duration } from './time';
import type { CardTextDef, ChecklistDef, FindingDef, RuleFile, SuggestionDef } from './rule-file';

/** Text with `{{…}}` placeholders, split once at load time. */
export type Template = (string | { expr: string })[];

export interface CompiledFact {
  name: string;
  resourceTypes: ReadonlySet<string>;
  code?: { path: string; compiled: Compiled; sets: CodeSetMatcher[] };
  where?: Compiled;
  time: Compiled[];
  end: Compiled[];
  ongoing?: Compiled;
  value?: {
    path: Compiled;
    unit: string;
    units?: ReadonlySet<string>;
    readAs?: ReadonlyMap<string, string>;
    greaterThan: GreaterThanReading;
    fromString?: { unitFallback?: Compiled; comparatorsOnly: boolean };
  };
  band?: string;
  label?: Compiled;
  exclude: { when: Compiled; reason: { template: Template; compiled: Map<string, Compiled> } }[];
  lookback?: Duration;
}

export interface Window {
  before: Duration;
  after: Duration;
  match: 'time' | 'interval';
}

export interface ItemTest {
  value?: ValueTest;
  exact?: boolean;
  has?: string;
  lacks?: string;
  within?: Duration;
  olderThan?: Duration;
  activeWithin?: Duration;
  fhirpath?: Compiled;
}

export interface CompiledRelationRule {
  fact: string;
  label: string;
  where?: ItemTest;
  window: Window;
}

export interface CompiledRelation {
  name: string;
  of: string;
  rules: CompiledRelationRule[];
}

export interface CompiledSet {
  name: string;
  from: string;
  without: string[];
}

export type CompiledClause =
  | { kind: 'subject'; test: ItemTest }
  | { kind: 'latest'; source: string; as?: string; where?: ItemTest; test: ItemTest; exists?: boolean }
  | { kind: 'nearest'; source: string; as?: string; where?: ItemTest; test: ItemTest; exists?: boolean; before: Duration; after: Duration }
  | {
      kind: 'series';
      source: string;
      as?: string;
      where?: ItemTest;
      exists?: boolean;
      count?: { atLeast?: number; atMost?: number };
      span?: { atLeast?: Duration; below?: Duration };
      slope?: ValueTest;
      lastToFirst?: ValueTest;
      cv?: ValueTest;
      monotonic?: boolean;
      includesSubject?: boolean;
      varies?: Compiled[];
    }
  | { kind: 'patient'; test: Compiled }
  | { kind: 'finding'; code: string }
  | { kind: 'not'; clause: CompiledClause }
  | { kind: 'allOf'; clauses: CompiledClause[]; variant?: string }
  | { kind: 'anyOf'; clauses: CompiledClause[] };

export interface CompiledFinding {
  def: FindingDef;
  code: string;
  display: string;
  indicator: { default: 'info' | 'warning' | 'critical'; raise: { to: 'warning' | 'critical'; when: CompiledClause }[] };
  subject?: string;
  when: CompiledClause[];
  /** Rule-file notes that apply to this finding, compiled in its scope. */
  notes: CompiledNote[];
  card: {
    base: CardTextDef;
    variants: Record<string, Partial<CardTextDef>>;
    evidence: string[];
    /** Facts whose excluded items the card lists; `within`: only those dated at most this long before now. */
    reportExclusions: { fact: string; within?: Duration }[];
    showRelations: string[];
    showTiers: boolean;
    /** A relation of the subject: results with matches in it are not graded (their tier is not shown). */
    tiersUnless?: string;
    checklist?: ChecklistDef & { items: (ChecklistDef['items'][number] & { compiledWhen?: CompiledClause })[] };
    /** Each suggestion's `unless` clause, compiled in the finding's scope (base text and variants). */
    suggestionUnless: Map<SuggestionDef, CompiledClause>;
  };
}

export interface CompiledNote {
  text: string;
  source: string;
  when: CompiledClause[];
  /** The card offers none of its suggestions when this note holds. */
  withholdSuggestions: boolean;
}

/** Everything that depends on the profile's parameter values. */
export interface Profile {
  name: string;
  description: string;
  /** Parameter values as numbers or durations, and as text for cards ("90 days", "3"). */
  numbers: Record<string, number>;
  durations: Record<string, Duration>;
  display: Record<string, string>;
  bands: Record<string, Band[]>;
  facts: Record<string, CompiledFact>;
  /** Facts that pre-select by code, grouped by code path, with one index of codes → facts per group. */
  codeIndexes: { path: string; compiled: Compiled; resourceTypes: ReadonlySet<string>; index: CodeIndex }[];
  relations: Record<string, CompiledRelation>;
  sets: Record<string, CompiledSet>;
  findings: CompiledFinding[];
  /** The rule file's `chart` section with this profile's band edges (preview page only). */
  chart?: CompiledChart;
}

/** What the preview page plots: facts by name, bands resolved to this profile's numbers. */
export interface CompiledChart {
  title: string;
  series: { fact: string; label: string; unit: string };
  bands?: { name: string; bands: Band[] };
  /** In the rule file's order; the page draws each with its own mark. */
  mark: { relation: string; flag: string }[];
  secondary?: { fact: string; label: string; unit: string };
}

export interface RuleSet {
  file: string;
  def: RuleFile;
  id: string;
  version: string;
  /** Every distinct FHIRPath expression of the file, each compiled once. */
  expressions: string[];
  codeSets: Record<string, CodeSetMatcher>;
  profiles: Record<string, Profile>;
}

/** One resource as a fact of the rules: its time, value, and why it is excluded (if it is). */
export interface Item {
  fact: string;
  resource: FhirResource;
  /** `Type/id`, or `Type/#n` for a resource without id. */
  ref: string;
  time?: number;
  end?: number;
  /** `time` and `end` as the record wrote them (cards show dates in the record's zone and precision). */
  timeText?: string;
  endText?: string;
  ongoing: boolean;
  measured?: Measured;
  band?: string;
  label?: string;
  excluded?: string;
}

export interface RelationMatch {
  rule: CompiledRelationRule;
  item: Item;
}
