/**
 * The preview page's chart data, computed from an evaluation and the rule file's `chart` section (resolved for
 * the evaluation's profile): every item of the series fact with its time, value, band and flags (marked
 * relations, exclusion reason), every item of the secondary fact, and the bands as value ranges. Nothing here
 * knows what is plotted: names, units and edges all come from the rule file.
 */
import type { Evaluation } from '../engine/evaluate';
import type { CompiledChart, Item } from '../engine/model';

export interface ChartPoint {
  /** `Type/id` of the resource. */
  ref: string;
  /** Epoch ms; null when the item has no usable time (listed, not plotted). */
  t: number | null;
  /** Normalised to the axis unit; null when the item has no usable value. */
  value: number | null;
  comparator: '<' | '<=' | '>' | '>=' | null;
  /** As the record reported it ("0.0051 ng/mL"). */
  reported: string | null;
  label: string | null;
  /** Band of the value (series only). */
  tier: string | null;
  /** Flags of the marked relations that match, in the chart's order, then `excluded: <reason>`. */
  flags: string[];
  /** Why each flag holds: `<flag>: <relation rule labels>`. */
  why: string[];
  /** Finding codes that cite this item (subject or a named selection). */
  usedBy: string[];
}

export interface ChartBand {
  name: string;
  /** Lower edge (the previous band's upper edge); null for the first band. */
  from: number | null;
  /** Upper edge; null for the last band. */
  to: number | null;
  /** Whether `to` itself belongs to this band (`atMost`) or to the next one (`below`). */
  inclusive: boolean;
}

export interface PreviewChart {
  title: string;
  profile: string;
  /** The evaluation's "now" (epoch ms). */
  now: number;
  axes: { series: { label: string; unit: string }; secondary: { label: string; unit: string } | null };
  bands: ChartBand[];
  marks: { flag: string; relation: string }[];
  series: ChartPoint[];
  secondary: ChartPoint[];
}

/** The chart of an evaluation, or null when the rule file has no `chart` section. */
export function chartData(ev: Evaluation): PreviewChart | null {
  const def: CompiledChart | undefined = ev.profile.chart;
  if (!def) return null;
  const usedBy = citations(ev);
  const point = (item: Item, withMarks: boolean): ChartPoint => {
    const flags: string[] = [];
    const why: string[] = [];
    if (withMarks) {
      for (const m of def.mark) {
        const matches = ev.relationMatches(m.relation, item);
        if (matches.length === 0) continue;
        flags.push(m.flag);
        why.push(`${m.flag}: ${[...new Set(matches.map((x) => x.rule.label))].join(', ')}`);
      }
    }
    if (item.excluded) flags.push(`excluded: ${item.excluded}`);
    return {
      ref: item.ref,
      t: item.time ?? null,
      value: item.measured?.value ?? null,
      comparator: item.measured?.comparator ?? null,
      reported: item.measured?.reported ?? null,
      label: item.label ?? null,
      tier: item.band ?? null,
      flags,
      why,
      usedBy: usedBy.get(item) ?? [],
    };
  };
  let from: number | null = null;
  const bands: ChartBand[] = (def.bands?.bands ?? []).map((b) => {
    const to = b.below ?? b.atMost ?? null;
    const band: ChartBand = { name: b.name, from, to, inclusive: b.atMost !== undefined };
    from = to;
    return band;
  });
  return {
    title: def.title,
    profile: ev.profile.name,
    now: ev.input.now,
    axes: {
      series: { label: def.series.label, unit: def.series.unit },
      secondary: def.secondary ? { label: def.secondary.label, unit: def.secondary.unit } : null,
    },
    bands,
    marks: def.mark.map((m) => ({ flag: m.flag, relation: m.relation })),
    series: ev.factItems(def.series.fact).map((i) => point(i, true)),
    secondary: def.secondary ? ev.factItems(def.secondary.fact).map((i) => point(i, false)) : [],
  };
}

/** Item → codes of the findings whose subject or named selections include it. */
function citations(ev: Evaluation): Map<Item, string[]> {
  const out = new Map<Item, string[]>();
  const add = (item: Item, code: string) => {
    const list = out.get(item) ?? [];
    if (!list.includes(code)) list.push(code);
    out.set(item, list);
  };
  for (const f of ev.findings) {
    if (f.subject) add(f.subject, f.code);
    for (const sel of f.selections.values()) for (const i of Array.isArray(sel) ? sel : [sel]) add(i, f.code);
  }
  return out;
}
