/**
 * The shape of a rule file (`cds-services/<id>/rules.yaml`), as written by clinical informaticists.
 * `rule-file.schema.json` enforces it at start-up; `docs/rule-files.md` explains it with examples.
 *
 * References inside a rule file:
 *   - `$name` names a parameter (a number or a duration such as "14 days"); profiles override parameters;
 *   - in FHIRPath, `%name` is a parameter, a code set, or `%patient` (the patient's resource);
 *   - facts, relations, sets and earlier selections (`as:`) are referred to by bare name.
 */

/** A number, or `$parameter`. */
export type NumberRef = number | string;
/** "14 days", "72 hours", "12 months", or `$parameter`. */
export type DurationRef = string;

export interface RuleFile {
  id: string;
  name: string;
  version: string;
  description?: string;
  sources: Record<string, { citation: string; ref?: string }>;
  parameters: Record<string, ParameterDef>;
  profiles?: Record<string, { description: string; source?: string; parameters: Record<string, number | string> }>;
  codeSets: Record<string, CodeEntry[]>;
  bands?: Record<string, BandDef[]>;
  facts: Record<string, FactDef>;
  relations?: Record<string, RelationDef>;
  sets?: Record<string, SetDef>;
  findings: FindingDef[];
  notes?: NoteDef[];
  overrideReasons: { system: string; code: string; display: string }[];
  topicSystem: string;
  label: string;
  /** What the card preview page plots for a patient (optional; the service itself never uses it). */
  chart?: ChartDef;
}

/**
 * The preview page's chart: a fact's values over time on the left axis with a band set shaded behind them,
 * items that have a relation (e.g. a confounder) marked with a flag word, and an optional second fact on a
 * right axis. Band edges come from the profile, like every other threshold.
 */
export interface ChartDef {
  title: string;
  /** Fact plotted on the left axis (needs a `value`). */
  series: string;
  /** Axis and legend name of the series; default: the fact name. */
  seriesLabel?: string;
  /** Band set shaded behind the series. */
  bands?: string;
  /** Relations of the series fact; an item with a match is drawn with a distinct mark and gets the flag. */
  mark?: { relation: string; flag: string }[];
  /** Fact plotted on the right axis (needs a `value`). */
  secondary?: string;
  secondaryLabel?: string;
}

export interface ParameterDef {
  value: number | string;
  doc: string;
  unit?: string;
  source?: string;
}

/** A code, or a code prefix for hierarchical systems such as ICD-10-CM (`S` covers S00–S99). */
export interface CodeEntry {
  system: string;
  code?: string;
  prefix?: string;
  display?: string;
}

export interface BandDef {
  name: string;
  below?: NumberRef;
  atMost?: NumberRef;
}

export interface FactDef {
  doc?: string;
  resourceTypes: string[];
  /** Index-based pre-selection: the CodeableConcept at `path` has a coding in one of the code sets. */
  code?: { path: string; in: string[] };
  /** FHIRPath filter on the resource; resources it rejects are not items at all. */
  where?: string;
  /** FHIRPath expressions tried in order; the first non-empty one is the item's time. */
  time: string[];
  end?: string[];
  /** FHIRPath: true when the item is still going on (open-ended interval). */
  ongoing?: string;
  /** `units`: the only UCUM units read (each must convert to `unit`); others are excluded with the reason. Absent: any convertible unit. */
  value?: {
    path: string;
    unit: string;
    units?: string[];
    /** Unit text or codes that mean another UCUM unit for this test (insulin's µU/mL is µIU/mL, not UCUM's enzyme unit). */
    readUnitsAs?: Record<string, string>;
    greaterThan?: 'above' | 'atLeast';
    fromString?: { unitFallback?: string; comparatorsOnly?: boolean };
  };
  band?: string;
  /** FHIRPath giving the text that names the item in cards (first non-empty). */
  label?: string;
  /** Ordered; the first that matches excludes the item, with the reason shown in cards. */
  exclude?: { when: string; reason: string }[];
  lookback?: DurationRef;
}

export interface WindowDef {
  before: DurationRef;
  after: DurationRef;
  /** `time`: the other item's time lies in the window; `interval`: its [start, end] overlaps it. */
  match: 'time' | 'interval';
}

export interface RelationRuleDef {
  fact: string;
  label: string;
  where?: ItemTest;
  window: WindowDef;
}

export interface RelationDef {
  doc?: string;
  of: string;
  rules: RelationRuleDef[];
}

export interface SetDef {
  doc?: string;
  from: string;
  without?: string[];
}

export interface ValueTestDef {
  above?: NumberRef;
  atLeast?: NumberRef;
  below?: NumberRef;
  atMost?: NumberRef;
  /** Certainly above this limit or certainly at most it (a comparator value such as "<5" against 3 is neither). */
  sideOf?: NumberRef;
  /** Cannot be shown to be above this limit (clinical-rules.md: such a value "is not above it"). */
  notAbove?: NumberRef;
}

export interface ItemTest {
  value?: ValueTestDef;
  exact?: boolean;
  has?: string;
  lacks?: string;
  within?: DurationRef;
  olderThan?: DurationRef;
  /** The item's interval reaches into this last stretch before now: it started by now and is ongoing or ended within it. */
  activeWithin?: DurationRef;
  fhirpath?: string;
}

interface SelectionCommon extends ItemTest {
  as?: string;
  where?: ItemTest;
  exists?: boolean;
}

export type Clause =
  | { subject: ItemTest }
  | ({ latest: string } & SelectionCommon)
  | ({ nearest: string; window: { before: DurationRef; after: DurationRef } } & SelectionCommon)
  | ({
      series: string;
      count?: { atLeast?: number; atMost?: number };
      span?: { atLeast?: DurationRef; below?: DurationRef };
      slope?: ValueTestDef;
      lastToFirst?: ValueTestDef;
      cv?: ValueTestDef;
      monotonic?: boolean;
      includesSubject?: boolean;
      /** One expression or several (any of them differing); results where it gives nothing are not compared. */
      varies?: string | string[];
    } & SelectionCommon)
  | { patient: string }
  | { finding: string }
  | { not: Clause }
  | { allOf: Clause[]; variant?: string }
  | { anyOf: Clause[] };

export interface CardTextDef {
  summary: string;
  detail?: string;
  guidance?: { text: string; source: string }[];
  suggestions?: SuggestionDef[];
}

export interface SuggestionDef {
  label: string;
  orders: { system: string; code: string; display: string }[];
  isRecommended?: boolean;
  /** Not offered when the clause holds (the test is already on file); the card says why with `says`. */
  unless?: { clause: Clause; says: string };
}

export interface FindingDef {
  code: string;
  display: string;
  indicator: 'info' | 'warning' | 'critical' | { default: 'info' | 'warning' | 'critical'; raise?: { to: 'warning' | 'critical'; when: Clause }[] };
  subject?: { latest: string };
  when: Clause[];
  card: CardTextDef & {
    /** Selections listed in the card's evidence table (subject first). */
    evidence?: string[];
    /** Facts whose excluded items are reported in this card. */
    reportExclusions?: (string | { fact: string; within: DurationRef })[];
    /** Relations of the subject shown with their matches (which confounder, when). */
    showRelations?: string[];
    /**
     * The evidence table's Tier column (default true): `false` where the card's results are not graded (confounded,
     * drawn under blockade); `{ unless: <relation of the subject> }` shows "not graded" for a result with matches in it.
     */
    showTiers?: boolean | { unless: string };
    checklist?: ChecklistDef;
    variants?: Record<string, Partial<CardTextDef>>;
  };
}

export interface ChecklistDef {
  title: string;
  knownTitle: string;
  items: { label: string; knownFrom: string; when?: Clause }[];
}

export interface NoteDef {
  text: string;
  source: string;
  /** Finding codes whose cards carry the note; all when absent. */
  for?: string[];
  when: Clause[];
  /** When the note holds, the card offers none of its suggestions (the note says why). */
  withholdSuggestions?: boolean;
}
