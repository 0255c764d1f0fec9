/**
 * Golden test: every synthetic patient of fhir-fixtures/ through the HTTP API, twice — once with full
 * prefetch, once with no prefetch and fhirServer pointing at a real FHIR server holding the same patient.
 * Both must give exactly the expected finding codes, indicators and key facts, and the same cards.
 */
import type { Bundle, FhirResource, ServiceRequest } from 'fhir/r4';
import type { Card, CdsResponse } from '../../src/cds-hooks/types';
import { readableText } from '../../src/cards/markdown';
import { formatDate, parseFhirTime } from '../../src/engine/time';
import { buildPrefetch, fixtureResources, listFixtures, type Fixture } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { findingCodes, hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';

const SERVICE = 'il6-inflammation';
const fixtures = listFixtures();
const now = new Date();
let fhir: TestFhirServer;
const services: Record<string, RunningServer> = {};

beforeAll(async () => {
  fhir = await startTestFhirServer();
  for (const f of fixtures) await fhir.load(rebase(f.bundle, now));
  for (const profile of new Set(fixtures.map((f) => f.expected.profile ?? 'default'))) {
    services[profile] = await startTestService({ config: { rulesProfile: profile } });
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(Object.values(services).map((s) => s.close()));
  await fhir?.stop();
});

describe.each(fixtures.map((f) => [f.slug, f] as const))('fixture %s', (_slug, fixture) => {
  const { expected } = fixture;
  const service = () => services[expected.profile ?? 'default']!;
  const resources = fixtureResources(fixture, now);
  const templates = () => service().registry.get(SERVICE)!.definition.prefetch!;

  it(`${expected.title} → [${expected.findings.join(', ')}], identical with prefetch and through the FHIR server`, async () => {
    const withPrefetch = await postHook(service().url, SERVICE, hookRequest(expected.patient, { prefetch: buildPrefetch(templates(), resources, expected.patient) }));
    expect(withPrefetch.status).toBe(200);
    const viaFhir = await postHook(service().url, SERVICE, hookRequest(expected.patient, { fhirServer: fhir.baseUrl }));
    expect(viaFhir.status).toBe(200);

    const a = withPrefetch.body as CdsResponse;
    const b = viaFhir.body as CdsResponse;
    expect(findingCodes(a)).toEqual([...expected.findings].sort());
    expect(comparable(b)).toEqual(comparable(a));

    for (const card of a.cards) {
      expect(card.summary.length).toBeLessThan(140);
      expect(card.summary).not.toMatch(/…$/); // written short enough, not cut by the renderer's safety net
      expect(card.summary).toMatch(/\b\d{4}-\d{2}-\d{2}\b/); // names the date of the result it is about (clinical-rules §5)
      // Cards cite their evidence: the results used, and guidance with its source.
      expect(card.detail).toMatch(/\*\*Results used\*\*\n\n\| Test \| Date \|/);
      expect(card.detail).toMatch(/\*\*Guidance\*\*\n\n- .+ — \*.+\*/);
      expect(card.source.topic?.system).toBe('urn:il6-cds:finding');
      expect(card.source.label).toContain('rules 1.0.0');
      expect(card.overrideReasons?.length).toBeGreaterThan(0);
    }
    for (const [code, want] of Object.entries(expected.cards ?? {})) {
      const card = a.cards.find((c) => c.source.topic?.code === code);
      expect(card).toBeDefined();
      if (want.indicator) expect(card!.indicator).toBe(want.indicator);
      const text = readableText(`${card!.summary}\n${card!.detail ?? ''}`).toLowerCase();
      for (const m of want.mentions ?? []) expect(text).toContain(expand(m, fixture).toLowerCase());
      for (const m of want.summaryMentions ?? []) expect(readableText(card!.summary).toLowerCase()).toContain(expand(m, fixture).toLowerCase());
      for (const m of want.absent ?? []) expect(text).not.toContain(expand(m, fixture).toLowerCase());
      if (want.orders) {
        expect((card!.suggestions ?? []).flatMap((s) => s.actions?.map((a) => (a.resource as ServiceRequest).code?.coding?.[0]?.code) ?? [])).toEqual(want.orders);
        expect(card!.selectionBehavior).toBe(want.orders.length > 0 ? 'any' : undefined);
      }
    }
  });
});

/** A card without what differs between two calls (uuids, the evaluation timestamp). */
function comparable(res: CdsResponse): unknown[] {
  return res.cards.map((c: Card) => ({
    ...c,
    uuid: undefined,
    detail: c.detail?.replace(/Evaluated .*UTC\./, ''),
    suggestions: c.suggestions?.map((s) => ({ ...s, uuid: undefined })),
  }));
}

/** `{{date:<id>}}` → the rebased date of that resource's clinical time. */
function expand(mention: string, fixture: Fixture): string {
  return mention.replace(/\{\{date:([^}]+)\}\}/g, (_, id: string) => {
    const r = (rebase(fixture.bundle, now) as Bundle).entry?.find((e) => e.resource?.id === id)?.resource as FhirResource | undefined;
    if (!r) throw new Error(`${fixture.slug}: {{date:${id}}} names no resource`);
    const rec = r as unknown as Record<string, unknown>;
    const t = parseFhirTime(rec.effectiveDateTime ?? (rec.effectivePeriod as { start?: string } | undefined)?.start ?? rec.effectiveInstant ?? rec.issued ?? rec.onsetDateTime ?? rec.authoredOn);
    if (t === undefined) throw new Error(`${fixture.slug}: ${id} has no time`);
    return formatDate(t);
  });
}
