/**
 * Scaled synthetic patients for the benchmark, built from the fixtures of `fhir-fixtures/`: one Patient and
 * N − 1 other resources, as a chart that grew over time. Each fixture (minus its Patient) is an "episode" —
 * IL-6 and CRP results, vitals, metabolic markers, conditions, encounters, procedures, medication requests and
 * statements with their Medications — and episodes are laid one after another back in time: episode 0 is
 * the chart's present (dates rebased to now), episode k is the same clinical situation `k × step` earlier.
 * Every id is unique, every reference inside an episode is rewritten to the new ids, every subject/patient
 * reference points at the one Patient; only the newest episode has active medications and encounters.
 *
 * Only resources the service's prefetch queries would return are kept (an EHR's prefetch holds exactly what
 * the templates ask for), so a prefetch of N resources and the FHIR fallback over the same patient see the
 * same N resources.
 */
import type { Bundle, FhirResource } from 'fhir/r4';
import { listFixtures, type Fixture } from '../src/fixtures/catalog';
import { rebase } from '../src/fixtures/rebase';

const DAY_MS = 86_400_000;
/** The chart spans at most this far back (older history just gets denser episodes). */
const SPAN_MS = 5 * 365 * DAY_MS;
const MAX_STEP_MS = 45 * DAY_MS;

export interface ScaledPatient {
  patientId: string;
  /** The Patient first, then the episodes' resources, newest episode first; exactly `size` resources. */
  resources: FhirResource[];
  /** Resources per type, for the report. */
  mix: Record<string, number>;
}

/** What the prefetch templates of a service select, by resource type (a tiny subset of FHIR search). */
export interface PrefetchFilter {
  /** Resource types any template asks for (searched or included). */
  types: Set<string>;
  /** Per type: search parameters with their allowed tokens (`system|code`), e.g. Observation.code, Encounter.class. */
  tokens: Map<string, Map<string, Set<string>>>;
}

/** Reads the search templates of a discovery entry: `Type?param=a,b&…` with `_include=Type:param`. */
export function prefetchFilter(templates: Record<string, string>): PrefetchFilter {
  const types = new Set<string>();
  const tokens = new Map<string, Map<string, Set<string>>>();
  for (const template of Object.values(templates)) {
    const [pathPart, query = ''] = template.split('?');
    const type = pathPart!.split('/')[0]!;
    types.add(type);
    for (const [name, value] of new URLSearchParams(query)) {
      if (name === '_include') {
        if (/:medication$/.test(value)) types.add('Medication');
        continue;
      }
      if (name.startsWith('_') || name === 'patient' || value.includes('{{')) continue;
      let params = tokens.get(type);
      if (!params) tokens.set(type, (params = new Map()));
      params.set(name, new Set(value.split(',')));
    }
  }
  return { types, tokens };
}

function matches(r: FhirResource, filter: PrefetchFilter): boolean {
  if (!filter.types.has(r.resourceType)) return false;
  const params = filter.tokens.get(r.resourceType);
  if (!params) return true;
  const rec = r as unknown as Record<string, unknown>;
  for (const [name, allowed] of params) {
    if (name === 'status') {
      if (!allowed.has(String(rec.status))) return false;
      continue;
    }
    // Token parameters on a CodeableConcept (`code`) or a Coding (`class`).
    const value = rec[name] as { coding?: { system?: string; code?: string }[]; system?: string; code?: string } | undefined;
    const codings = value?.coding ?? (value ? [value] : []);
    if (!codings.some((c) => allowed.has(`${c.system}|${c.code}`) || allowed.has(String(c.code)))) return false;
  }
  return true;
}

/** The episodes: one per fixture of the default profile, in a fixed order that mixes kinds of data. */
function episodeFixtures(): Fixture[] {
  const all = listFixtures().filter((f) => (f.expected.profile ?? 'default') === 'default' && f.bundle.entry!.length > 1);
  // Interleave by kind (the slug's first word: combo, confounder, interference, metabolic, persistent, trend,
  // …) and, within a kind, by the resource types a fixture holds, so that any prefix of the sequence is a mix
  // (observations, conditions, encounters, procedures, medications), not 40 confounder cases in a row.
  const kinds = groupBy(all, (f) => f.slug.split('-')[0]!).map((fs) =>
    roundRobin(groupBy(fs, (f) => [...new Set(f.bundle.entry!.map((e) => e.resource!.resourceType))].sort().join(','))),
  );
  const out = roundRobin(kinds);
  const head = out.findIndex((f) => f.slug === 'combo-persistent-metabolic-crp-high');
  if (head > 0) out.unshift(...out.splice(head, 1));
  return out;
}

function groupBy<T>(items: T[], key: (t: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(t);
  }
  return [...groups.values()];
}

/** [[a1, a2], [b1]] → [a1, b1, a2]. */
function roundRobin<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const total = lists.reduce((n, l) => n + l.length, 0);
  for (let i = 0; out.length < total; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

/**
 * A patient with exactly `size` resources (`size` ≥ 1), prefix `idPrefix` on every id (e.g. `b100`), dates
 * relative to `now`. Deterministic for a given size, prefix and now.
 */
export function scaledPatient(size: number, templates: Record<string, string>, idPrefix = `b${size}`, now: Date = new Date()): ScaledPatient {
  if (!Number.isInteger(size) || size < 1) throw new Error(`size must be a positive integer, not ${size}`);
  const filter = prefetchFilter(templates);
  const fixtures = episodeFixtures();
  const patientId = `${idPrefix}-patient`;
  const patient: FhirResource = {
    resourceType: 'Patient',
    id: patientId,
    meta: { tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST', display: 'test health data' }] },
    active: true,
    name: [{ use: 'official', family: 'Fixture', given: [`Benchmark ${size}`] }],
    gender: 'male',
    birthDate: '1965-09-02',
  };
  // Episodes per fixture are ~1.6 resources; space them so the whole chart spans at most SPAN_MS.
  const approxEpisodes = Math.max(1, Math.ceil((size - 1) / 1.6));
  const stepMs = Math.min(MAX_STEP_MS, Math.floor(SPAN_MS / approxEpisodes));
  const resources: FhirResource[] = [patient];
  for (let k = 0; resources.length < size; k++) {
    const fixture = fixtures[k % fixtures.length]!;
    const shifted = rebase(fixture.bundle, new Date(now.getTime() - k * stepMs));
    const episode = (shifted.entry ?? []).flatMap((e) => (e.resource && e.resource.resourceType !== 'Patient' ? [e.resource as FhirResource] : []));
    const kept = episode.filter((r) => matches(r, filter));
    if (kept.length === 0) continue;
    const ids = new Map<string, string>();
    kept.forEach((r, i) => ids.set(`${r.resourceType}/${r.id}`, `${idPrefix}-${k}-${i}`));
    // Medications first within an episode, so a cut at `size` never keeps a request without its Medication.
    kept.sort((a, b) => Number(b.resourceType === 'Medication') - Number(a.resourceType === 'Medication'));
    for (const r of kept) {
      if (resources.length >= size) break;
      const copy = relink(r, ids, patientId) as FhirResource;
      if (k > 0) settle(copy);
      resources.push(copy);
    }
  }
  const mix: Record<string, number> = {};
  for (const r of resources) mix[r.resourceType] = (mix[r.resourceType] ?? 0) + 1;
  return { patientId, resources, mix };
}

/**
 * A chart has one present; its history is over: in every episode but the newest, an active medication is
 * completed and an encounter in progress finished (else a 10,000-resource chart would hold hundreds of IL-6
 * blockers taken at once, which no patient has).
 */
function settle(r: FhirResource): void {
  const rec = r as unknown as { status?: string };
  if ((r.resourceType === 'MedicationRequest' || r.resourceType === 'MedicationStatement') && rec.status === 'active') rec.status = 'completed';
  if (r.resourceType === 'Encounter' && rec.status === 'in-progress') rec.status = 'finished';
}

/** A copy with the new id and every reference rewritten (the Patient, or a resource of the same episode). */
function relink(value: unknown, ids: Map<string, string>, patientId: string, key?: string, top = true): unknown {
  if (Array.isArray(value)) return value.map((v) => relink(v, ids, patientId, key, false));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const rec = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(rec)) out[k] = relink(v, ids, patientId, k, false);
    if (top) out.id = ids.get(`${String(rec.resourceType)}/${String(rec.id)}`);
    return out;
  }
  if (key === 'reference' && typeof value === 'string') {
    if (value.startsWith('#')) return value; // contained: inside the resource, whose own id changes
    if (value.startsWith('Patient/')) return `Patient/${patientId}`;
    const [type, id, ...version] = value.split('/'); // Type/id[/_history/v]
    const mapped = ids.get(`${type}/${id}`);
    return `${type}/${mapped ?? id}${version.length > 0 ? `/${version.join('/')}` : ''}`;
  }
  return value;
}

/**
 * The patient as transaction Bundles of PUTs for a FHIR server, at most `perBundle` entries each (medplum
 * refuses transactions of more than 50 updates).
 */
export function transactionBundles(p: ScaledPatient, perBundle = 50): Bundle[] {
  const out: Bundle[] = [];
  for (let i = 0; i < p.resources.length; i += perBundle) {
    out.push({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: p.resources.slice(i, i + perBundle).map((resource) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } })),
    } as Bundle);
  }
  return out;
}
