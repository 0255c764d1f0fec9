/**
 * Turns the findings of an evaluation into CDS Hooks cards that cite their evidence: which results were
 * used (date, value as reported, normalised value, tier), which were not and why, which confounder applied
 * and when, and the guidance with its source. One card per finding, in rule-file order.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceRequest } from 'fhir/r4';
import type { Card, Suggestion } from '../cds-hooks/types';
import type { Evaluation, Finding, Selection } from '../engine/evaluate';
import { cardText, toPoints } from '../engine/evaluate';
import { parseTemplate } from '../engine/load';
import type { Item, RelationMatch, Template } from '../engine/model';
import { formatMeasured, formatMeasuredAndReported, formatNumber, unitForPeople } from '../engine/quantity';
import { clipText } from '../engine/record-text';
import { coefficientOfVariation, lastToFirst, slopePerDay } from '../engine/temporal';
import type { CardTextDef, SuggestionDef } from '../engine/rule-file';
import { formatDateTime, formatRecorded, formatSpan, shift } from '../engine/time';
import { escapeMarkdown, plainText, table } from './markdown';

const SUMMARY_MAX = 139;
const MAX_LISTED_EXCLUSIONS = 10;
/** Confounders of one kind, or known conditions of one category, a card names before "and N more". */
const MAX_LISTED_PER_KIND = 5;

export interface RenderOptions {
  patientId: string;
  newUuid?: () => string;
  /** Resources of the record that could not be read (not valid FHIR R4), counted by type: every card says so. */
  unreadable?: Record<string, number>;
  /** Resources left out because they name another patient than the one in context, counted by type. */
  otherPatient?: Record<string, number>;
}

export function renderCards(evaluation: Evaluation, opts: RenderOptions): Card[] {
  const cards = evaluation.findings.map((f) => renderCard(evaluation, f, opts));
  if (cards.length === 0) {
    // No finding, but part of the record was left out: an empty answer would read as "nothing to note".
    const notice = recordNotFullyReadCard(evaluation, opts);
    if (notice) cards.push(notice);
  }
  return cards;
}

/** Topic code of the card that says the record was not fully read (it is the service's, not a finding's). */
export const RECORD_NOT_FULLY_READ = 'record-not-fully-read';

function recordNotFullyReadCard(ev: Evaluation, opts: RenderOptions): Card | undefined {
  const notes = leftOutNotes(opts);
  if (notes.length === 0) return undefined;
  const total = [opts.unreadable, opts.otherPatient].reduce((n, counts) => n + Object.values(counts ?? {}).reduce((a, b) => a + b, 0), 0);
  const rs = ev.ruleSet;
  return {
    uuid: (opts.newUuid ?? randomUUID)(),
    summary: truncate(`${rs.def.label}: ${total} ${total === 1 ? 'resource' : 'resources'} of the record could not be used; advice may be missing`),
    indicator: 'info',
    detail: [
      `**Record not fully read.** No finding holds for the rest of the record, but part of it was left out, so this is not an all-clear.`,
      ...notes,
      rulesLine(ev),
    ].join('\n\n'),
    source: sourceOf(ev, RECORD_NOT_FULLY_READ, 'Record not fully read'),
    overrideReasons: rs.def.overrideReasons.map((r) => ({ ...r })),
  };
}

function renderCard(ev: Evaluation, f: Finding, opts: RenderOptions): Card {
  const uuid = opts.newUuid ?? randomUUID;
  const rs = ev.ruleSet;
  const text = cardText(f.def, f.variant);
  const fill = (t: string, escape: (s: string) => string, listMax?: number) => fillTemplate(t, ev, f, escape, listMax);
  const card: Card = {
    uuid: uuid(),
    summary: fitSummary((listMax) => fill(text.summary, plainText, listMax)),
    indicator: f.indicator,
    detail: renderDetail(ev, f, text, fill, opts),
    source: sourceOf(ev, f.code, f.def.display),
    overrideReasons: rs.def.overrideReasons.map((r) => ({ ...r })),
  };
  const suggestions = ordersWithheld(f) ? [] : (text.suggestions ?? []).filter((s) => !f.notSuggested.has(s)).map((s) => renderSuggestion(s, f, opts, uuid));
  if (suggestions.length > 0) {
    card.suggestions = suggestions;
    card.selectionBehavior = 'any';
  }
  return card;
}

function renderDetail(ev: Evaluation, f: Finding, text: CardTextDef, fill: (t: string, e: (s: string) => string) => string, opts: RenderOptions): string {
  const parts: string[] = [];
  const rs = ev.ruleSet;
  parts.push(`**${f.def.display}.** ${text.detail ? fill(text.detail.trim(), escapeMarkdown) : ''}`.trim());

  const evidence = evidenceItems(f);
  if (evidence.length > 0) {
    const { showTiers: tiers, tiersUnless } = f.def.card;
    const tier = (i: Item) => (tiersUnless && ev.relationMatches(tiersUnless, i).length > 0 ? `not graded (${tiersUnless})` : i.band ? escapeMarkdown(i.band) : '—');
    const rows = evidence.map((i) => [
      escapeMarkdown(i.label ?? i.resource.resourceType),
      i.time !== undefined ? recorded(i) : '—',
      i.measured ? escapeMarkdown(formatMeasured(i.measured)) : '—',
      i.measured ? escapeMarkdown(i.measured.reported) : '—',
      ...(tiers ? [tier(i)] : []),
    ]);
    parts.push(`**Results used**\n\n${table(['Test', 'Date', 'Value', 'As reported', ...(tiers ? ['Tier'] : [])], rows)}`);
  }

  for (const relation of f.def.card.showRelations) {
    const matches = f.subject ? ev.relationMatches(relation, f.subject) : [];
    if (matches.length === 0) continue;
    const lines = listedMatches(matches);
    const clear = clearsAfter(matches);
    const tail = clear === 'ongoing' ? '\n\nAt least one of these is still ongoing: a result drawn now would still be affected.' : clear !== undefined ? `\n\nA result drawn after ${formatDateTime(clear)} would be outside every window found.` : '';
    parts.push(`**${capitalise(ev.profile.relations[relation]!.name)} around the draw on ${f.subject!.time !== undefined ? recorded(f.subject!) : '—'}**\n\n${lines.join('\n')}${tail}`);
  }

  if (f.checklist) {
    const c = f.checklist;
    const known = c.known.map((k) => {
      const named = k.known.slice(0, MAX_LISTED_PER_KIND).map((i) => `${escapeMarkdown(i.label ?? 'condition')}${isDated(i) ? ` (since ${new Date(i.time).getUTCFullYear()})` : ''}`);
      if (k.known.length > named.length) named.push(`and ${k.known.length - named.length} more`);
      return `${named.join(', ')} — ${k.label}`;
    });
    if (known.length > 0) parts.push(`**${c.knownTitle}:** ${known.join('; ')}.`);
    if (c.open.length > 0) parts.push(`**${c.title}:** ${c.open.join(', ')}.`);
  }

  // Orders left out because the test is already on file, each with the result that makes it redundant.
  if (!ordersWithheld(f) && f.notSuggested.size > 0) {
    const lines = [...f.notSuggested].map(([s, selections]) => `- ${fillTemplate(s.unless!.says, ev, { ...f, selections }, escapeMarkdown)}`);
    parts.push(`**Not suggested**\n\n${lines.join('\n')}`);
  }

  const excluded = exclusions(ev, f, new Set(evidence));
  if (excluded.length > 0) {
    // Newest first, so the cap hides the oldest; only the listed ones are formatted: a long record has hundreds of old results.
    excluded.sort(newestFirst);
    const shown = excluded.slice(0, MAX_LISTED_EXCLUSIONS).map((x) => `- ${describeExclusion(x)}`);
    if (excluded.length > shown.length) shown.push(`- … and ${excluded.length - shown.length} more, older or undated`);
    parts.push(`**Not used (${excluded.length} ${excluded.length === 1 ? 'result' : 'results'})**\n\n${shown.join('\n')}`);
  }

  const cite = (source: string) => {
    const s = rs.def.sources[source]!;
    return `*${s.citation}${s.ref ? ` (${s.ref})` : ''}*`;
  };
  const guidance = text.guidance ?? [];
  if (guidance.length > 0) parts.push(`**Guidance**\n\n${guidance.map((g) => `- ${g.text} — ${cite(g.source)}`).join('\n')}`);
  if (f.notes.length > 0) parts.push(`**Notes**\n\n${f.notes.map((n) => `- ${n.text} — ${cite(n.source)}`).join('\n')}`);
  parts.push(...leftOutNotes(opts));
  parts.push(rulesLine(ev));
  return parts.join('\n\n');
}

/** A note that holds may withhold every order (an IL-6 drawn now would be uninterpretable); the note says why. */
function ordersWithheld(f: Finding): boolean {
  return f.notes.some((n) => n.withholdSuggestions);
}

/** The card's source: the service's label, rule-set version and profile; the topic names what the card is about. */
function sourceOf(ev: Evaluation, code: string, display: string): Card['source'] {
  const rs = ev.ruleSet;
  return { label: `${rs.def.label} · rules ${rs.version} (${ev.profile.name})`, topic: { system: rs.def.topicSystem, code, display } };
}

/** The last line of every detail: which rules, which profile, when. */
function rulesLine(ev: Evaluation): string {
  const rs = ev.ruleSet;
  return `Rules: ${rs.def.name} ${rs.version}, profile ${ev.profile.name}. Evaluated ${formatDateTime(ev.input.now)}.`;
}

/** One "Record not fully read" line per reason resources were left out of the evaluation. */
function leftOutNotes(opts: RenderOptions): string[] {
  return [leftOut(opts.unreadable, 'not valid FHIR R4'), leftOut(opts.otherPatient, 'about another patient than the one in context')].filter((n): n is string => !!n);
}

/** "Record not fully read: 2 resources were <why> (Observation ×2) and were left out; …", or nothing. */
function leftOut(counts: Record<string, number> | undefined, why: string): string | undefined {
  const skipped = Object.entries(counts ?? {});
  if (skipped.length === 0) return undefined;
  const total = skipped.reduce((n, [, c]) => n + c, 0);
  const list = skipped.map(([type, c]) => `${escapeMarkdown(type)} ×${c}`).join(', ');
  return `**Record not fully read:** ${total} ${total === 1 ? 'resource was' : 'resources were'} ${why} (${list}) and ${total === 1 ? 'was' : 'were'} left out; anything they hold is not reflected in this card.`;
}

/**
 * The items the card lists as used: its evidence selections (subject first), then the results that made a suggestion
 * redundant (its `unless` selections), without duplicates.
 */
function evidenceItems(f: Finding): Item[] {
  const out: Item[] = [];
  const add = (sel: Selection | undefined) => {
    for (const i of asList(sel)) if (!out.includes(i)) out.push(i);
  };
  for (const name of f.def.card.evidence) add(name === 'subject' ? f.subject : f.selections.get(name));
  if (!ordersWithheld(f)) {
    for (const selections of f.notSuggested.values()) for (const [name, sel] of selections) if (!f.selections.has(name)) add(sel);
  }
  return out;
}

/**
 * Results of the reported facts that the card did not use, with the reason: excluded when read (status,
 * unit, age …), or left out by a set because of a relation (drawn on IL-6 blockade, confounded).
 */
function exclusions(ev: Evaluation, f: Finding, used: Set<Item>): { item: Item; reason: string }[] {
  const out: { item: Item; reason: string }[] = [];
  const exactSince = exactSeriesCutoff(ev, f);
  for (const { fact, within } of f.def.card.reportExclusions) {
    const since = within ? shift(ev.input.now, within, -1) : undefined;
    const excludingRelations = new Set(Object.values(ev.profile.sets).filter((s) => s.from === fact).flatMap((s) => s.without));
    for (const item of ev.factItems(fact)) {
      if (used.has(item) || (since !== undefined && !(item.time !== undefined && item.time >= since))) continue;
      let reason = item.excluded;
      if (!reason) {
        for (const r of excludingRelations) {
          const matches = ev.relationMatches(r, item);
          if (matches.length > 0) {
            reason = `${r}: ${[...new Set(matches.map((m) => m.rule.label))].join(', ')}`;
            break;
          }
        }
      }
      // A series of exact values leaves comparator values in its window out: said, never silently.
      if (!reason && exactSince !== undefined && item.measured?.comparator && item.time !== undefined && item.time >= exactSince) {
        reason = 'a comparator value, not exact: not part of the series';
      }
      if (reason) out.push({ item, reason });
    }
  }
  return out;
}

/** Start of the window of a series the finding built from exact values only (`exact: true`), if it has one. */
function exactSeriesCutoff(ev: Evaluation, f: Finding): number | undefined {
  for (const c of f.def.when) {
    if (c.kind !== 'series' || !c.where?.exact || !c.as || !f.selections.has(c.as)) continue;
    return c.where.within ? shift(ev.input.now, c.where.within, -1) : -Infinity;
  }
  return undefined;
}

/** An item's time (or end) as the record wrote it; with `withTime`, the time of day too where there is one. */
function recorded(i: Item, which: 'time' | 'end' = 'time', withTime = false): string {
  return formatRecorded(i[which]!, (which === 'time' ? i.timeText : i.endText) ?? '', withTime);
}

/** Has a finite time (not none, not the -Infinity of "going on, start not recorded"). */
function isDated(i: Item): i is Item & { time: number } {
  return i.time !== undefined && Number.isFinite(i.time);
}

/** Latest time first; results without a time last. */
function newestFirst(a: { item: Item }, b: { item: Item }): number {
  const ta = isDated(a.item) ? a.item.time : -Infinity;
  const tb = isDated(b.item) ? b.item.time : -Infinity;
  return tb - ta || 0;
}

function describeExclusion({ item, reason }: { item: Item; reason: string }): string {
  const when = isDated(item) ? recorded(item) : 'no date';
  const value = item.measured ? ` ${formatMeasuredAndReported(item.measured)}` : '';
  return `${when} — ${escapeMarkdown(`${item.label ?? item.resource.resourceType}${value}`)}: ${escapeMarkdown(reason)}`;
}

/**
 * One line per match, at most MAX_LISTED_PER_KIND of each kind (label), the latest first, and "… and N more" for
 * the rest of that kind, so that a record with hundreds of matches of one kind still shows every kind.
 */
function listedMatches(matches: RelationMatch[]): string[] {
  const byKind = new Map<string, RelationMatch[]>();
  for (const m of matches) {
    const kind = byKind.get(m.rule.label);
    if (kind) kind.push(m);
    else byKind.set(m.rule.label, [m]);
  }
  const lines: string[] = [];
  for (const [label, ms] of byKind) {
    const shown = ms.length > MAX_LISTED_PER_KIND ? [...ms].sort(newestFirst).slice(0, MAX_LISTED_PER_KIND) : ms;
    lines.push(...shown.map((m) => `- ${describeMatch(m)}`));
    if (ms.length > shown.length) lines.push(`- ${label}: … and ${ms.length - shown.length} more, earlier`);
  }
  return lines;
}

function describeMatch(m: RelationMatch): string {
  const i = m.item;
  const fine = m.rule.window.before.unit === 'hours' || m.rule.window.before.unit === 'minutes';
  const at = (which: 'time' | 'end') => recorded(i, which, fine);
  const what = `${i.label ?? i.resource.resourceType}${i.measured ? ` ${formatMeasuredAndReported(i.measured)}` : ''}`;
  let when = isDated(i) ? `on ${at('time')}` : '';
  if (m.rule.window.match === 'interval') {
    if (i.ongoing) when = when ? `since ${at('time')} (ongoing)` : 'ongoing, start date not recorded';
    else if (i.end !== undefined && i.end !== i.time) when = `from ${at('time')} to ${at('end')}`;
  }
  return `${m.rule.label}: ${escapeMarkdown(what)} ${when}`.trim();
}

/** When would a new draw be outside the windows of all these matches? (`ongoing` when never yet.) */
function clearsAfter(matches: RelationMatch[]): number | 'ongoing' | undefined {
  let latest: number | undefined;
  for (const m of matches) {
    if (m.rule.window.match === 'interval' && m.item.ongoing) return 'ongoing';
    const t = m.rule.window.match === 'interval' ? (m.item.end ?? m.item.time) : m.item.time;
    if (t === undefined) continue;
    const clear = shift(t, m.rule.window.before, 1);
    if (latest === undefined || clear > latest) latest = clear;
  }
  return latest;
}

function renderSuggestion(s: SuggestionDef, f: Finding, opts: RenderOptions, uuid: () => string): Suggestion {
  const reason = f.subject && f.subject.resource.resourceType === 'Observation' && f.subject.resource.id ? [{ reference: `Observation/${f.subject.resource.id}` }] : undefined;
  return {
    label: s.label,
    uuid: uuid(),
    ...(s.isRecommended !== undefined ? { isRecommended: s.isRecommended } : {}),
    actions: s.orders.map((o) => {
      const resource: ServiceRequest = {
        resourceType: 'ServiceRequest',
        status: 'draft',
        intent: 'proposal',
        code: { coding: [{ system: o.system, code: o.code, display: o.display }], text: o.display },
        subject: { reference: `Patient/${opts.patientId}` },
        ...(reason ? { reasonReference: reason } : {}),
      };
      return { type: 'create' as const, description: `Draft order: ${o.display}`, resource };
    }),
  };
}

// ---- templates -------------------------------------------------------------------------------------------

/** Parsed card templates; their texts come from the loaded rule files only, so this stays small. */
const TEMPLATES = new Map<string, Template>();

/** `listMax`: how many labels a list placeholder names before "+N more" (all by default). */
function fillTemplate(text: string, ev: Evaluation, f: Finding, escape: (s: string) => string, listMax = Infinity): string {
  let parts = TEMPLATES.get(text);
  if (!parts) TEMPLATES.set(text, (parts = parseTemplate(text)));
  return parts
    .map((part) => (typeof part === 'string' ? part : escape(placeholder(part.expr, ev, f, listMax))))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
}

function placeholder(expr: string, ev: Evaluation, f: Finding, listMax: number): string {
  if (expr === 'variant') return f.variant ?? '';
  if (expr.startsWith('$')) return ev.profile.display[expr.slice(1)] ?? '';
  const [name, field] = expr.split('.') as [string, string];
  const sel: Selection | undefined = name === 'subject' ? f.subject : f.selections.get(name);
  if (name === 'subject' && f.subject && ev.profile.relations[field]) {
    const labels = [...new Set(ev.relationMatches(field, f.subject).map((m) => m.rule.label))];
    return labels.length <= listMax ? labels.join(', ') : `${labels.slice(0, listMax).join(', ')} +${labels.length - listMax} more`;
  }
  const items = asList(sel);
  const one = Array.isArray(sel) ? items[items.length - 1] : items[0];
  switch (field) {
    case 'value':
      return one?.measured ? formatMeasured(one.measured) : '—';
    case 'reported':
      return one?.measured?.reported ?? '—';
    case 'date':
      return one?.time !== undefined ? recorded(one) : '—';
    case 'datetime':
      return one?.time !== undefined ? recorded(one, 'time', true) : '—';
    case 'tier':
      return one?.band ?? '—';
    case 'label':
      return one?.label ?? '—';
    case 'count':
      return String(items.length);
    case 'span': {
      const first = items[0]?.time;
      const last = items[items.length - 1]?.time;
      return first !== undefined && last !== undefined ? formatSpan(last - first) : '—';
    }
    case 'first':
      return items[0]?.measured ? formatMeasured(items[0].measured) : '—';
    case 'last':
      return one?.measured ? formatMeasured(one.measured) : '—';
    case 'slopePerMonth': {
      const s = slopePerDay(toPoints(items));
      const unit = one?.measured ? unitForPeople(one.measured.unit) : '';
      return s === undefined ? '—' : `${s >= 0 ? '+' : ''}${formatNumber(s * 30.44)} ${unit}`.trim();
    }
    case 'lastToFirst': {
      const r = lastToFirst(toPoints(items));
      return r === undefined ? '—' : r === Infinity ? 'above' : `${formatNumber(r)} ×`;
    }
    case 'cvPercent': {
      const cv = coefficientOfVariation(toPoints(items));
      return cv === undefined ? '—' : `${formatNumber(cv * 100)} %`;
    }
    default:
      return '—';
  }
}

function asList(sel: Selection | undefined): Item[] {
  return sel === undefined ? [] : Array.isArray(sel) ? sel : [sel];
}

/**
 * The summary in full, else with its lists of labels shortened ("fever, recent surgery +3 more") until it fits, so
 * that what it advises at the end is not cut off; cut only when even one label is too long.
 */
function fitSummary(fillWith: (listMax: number) => string): string {
  let s = fillWith(Infinity);
  for (let listMax = 3; s.length > SUMMARY_MAX && listMax >= 1; listMax--) s = fillWith(listMax);
  return truncate(s);
}

function truncate(s: string): string {
  return clipText(s, SUMMARY_MAX);
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
