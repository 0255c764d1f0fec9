/**
 * The sandbox round trip, against the project's own FHIR server instead of the public one: `il6-cds load`
 * uploads every fixture, then `il6-cds fire` acts as the EHR for each patient, once with the prefetch it builds
 * from the discovery templates and once with `--no-prefetch` (the service fetches the data itself). Both must
 * give exactly the fixture's expected finding codes. The commands run in-process through their exported run
 * functions; the services require a client JWT, which `fire` signs with the local development issuer.
 */
import type { Bundle, FhirResource } from 'fhir/r4';
import { runFire } from '../../src/cli/commands/fire';
import { runLoad, type LoadResult } from '../../src/cli/commands/load';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { listFixtures } from '../../src/fixtures/catalog';
import type { HookEvent } from '../../src/hooks/router';
import type { KeySource } from '../../src/prefetch/resolve';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { findingCodes } from '../support/cds-client';
import { startTestService } from '../support/service';
import { captureIo } from './support';

const fixtures = listFixtures();
let fhir: TestFhirServer;
const services: Record<string, RunningServer> = {};
/** Where each key's data came from, by hookInstance (told by the service itself). */
const sources = new Map<string, KeySource[]>();
let loaded: LoadResult;

beforeAll(async () => {
  fhir = await startTestFhirServer();
  const listener = (e: HookEvent) => sources.set(e.result.request.hookInstance, e.result.keys.map((k) => k.source));
  for (const profile of new Set(fixtures.map((f) => f.expected.profile ?? 'default'))) {
    services[profile] = await startTestService({ config: { rulesProfile: profile, auth: 'required' }, deps: { hookListeners: [listener] } });
  }
  const io = captureIo();
  loaded = await runLoad({ fhir: fhir.baseUrl, concurrency: 8 }, io);
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(services).map((s) => s.close()));
  await fhir?.stop();
});

describe('load', () => {
  it('uploads every fixture as a transaction and prints every patient id', async () => {
    expect(loaded.patients.map((p) => p.patientId).sort()).toEqual(fixtures.map((f) => f.expected.patient).sort());
    const resources = fixtures.reduce((n, f) => n + (f.bundle.entry?.length ?? 0), 0);
    expect(loaded.resources).toBe(resources);
    expect(loaded.created + loaded.updated).toBe(resources);
    const io = captureIo();
    await runLoad({ fhir: fhir.baseUrl, only: [fixtures[0]!.slug] }, io);
    expect(io.text).toContain(fixtures[0]!.expected.patient);
    expect(io.text).toMatch(/Loaded 1 fixture patient into http:\/\/127\.0\.0\.1:\d+\/fhir: \d+ resources/);
  });

  it('is idempotent: a second run updates the same resources and adds none', async () => {
    const before = await count('Observation');
    const again = await runLoad({ fhir: fhir.baseUrl, concurrency: 8 }, captureIo());
    expect(again.created).toBe(0);
    expect(again.updated).toBe(again.resources);
    expect(await count('Observation')).toBe(before);
    expect(await count('Patient')).toBe(fixtures.length);
  });

  it('--prefix gives every id and reference the prefix, so the copy is separate, and fire finds the same findings', async () => {
    // The longest ids, and a MedicationRequest whose medicationReference points to a Medication of the bundle.
    const slugs = ['persistent-20-days-apart', 'interference-medication-reference-code', 'confounder-earlier-elevated-latest-confounded'];
    const picks = slugs.map((s) => fixtures.find((f) => f.slug === s)!);
    expect(picks.every(Boolean)).toBe(true);
    const io = captureIo();
    const result = await runLoad({ fhir: fhir.baseUrl, prefix: 'ci-a', only: picks.map((f) => f.slug) }, io);
    expect(result.created).toBe(result.resources); // new resources, not the unprefixed ones overwritten
    for (const [i, f] of picks.entries()) {
      const id = result.patients[i]!.patientId;
      expect(id).toBe(`ci-a-${f.expected.patient}`);
      expect(io.text).toContain(id);
      const bundle = (await (await fetch(`${fhir.baseUrl}/Observation?patient=${id}`)).json()) as Bundle;
      expect(bundle.entry?.length).toBeGreaterThan(0);
      for (const e of bundle.entry ?? []) {
        const r = e.resource as FhirResource & { subject?: { reference?: string } };
        expect(r.id!.startsWith('ci-a-')).toBe(true);
        expect(r.id!.length).toBeLessThanOrEqual(64);
        expect(r.subject?.reference).toBe(`Patient/${id}`);
      }
      const orders = (await (await fetch(`${fhir.baseUrl}/MedicationRequest?patient=${id}`)).json()) as Bundle;
      for (const e of orders.entry ?? []) {
        const ref = (e.resource as { medicationReference?: { reference?: string } }).medicationReference?.reference;
        if (ref) expect(ref).toMatch(/^Medication\/ci-a-il6cds-/);
      }
      const fired = await runFire({ patient: id, fhir: fhir.baseUrl, url: services[f.expected.profile ?? 'default']!.url, json: true }, captureIo());
      expect(findingCodes(fired.response!)).toEqual([...f.expected.findings].sort());
    }
  });

  it('refuses an unknown --only slug and a prefix that cannot start an id, before sending anything', async () => {
    const sent = fhir.requests.length;
    await expect(runLoad({ fhir: fhir.baseUrl, only: ['no-such-fixture'] }, captureIo())).rejects.toThrow(/--only: no fixture named no-such-fixture/);
    await expect(runLoad({ fhir: fhir.baseUrl, prefix: 'bad/prefix' }, captureIo())).rejects.toThrow(/--prefix "bad\/prefix"/);
    expect(fhir.requests.length).toBe(sent);
  });
});

describe('fire behind a proxy', () => {
  it('--aud signs for the public base URL when --url reaches a replica by another address; without it the service answers 401', async () => {
    const replica = await startTestService({ config: { auth: 'required', publicBaseUrl: 'https://cds.example.test' } });
    try {
      const { patient, findings } = fixtures[0]!.expected;
      await expect(runFire({ patient, fhir: fhir.baseUrl, url: replica.url }, captureIo())).rejects.toThrow(/refused the client JWT \(HTTP 401\)/);
      const ok = await runFire({ patient, fhir: fhir.baseUrl, url: replica.url, aud: 'https://cds.example.test', json: true }, captureIo());
      expect(findingCodes(ok.response!)).toEqual([...findings].sort());
    } finally {
      await replica.close();
    }
  });
});

describe('a FHIR server that needs a token', () => {
  it('load and fire send --token to it, and fire hands it to the service as fhirAuthorization', async () => {
    const secured = await startTestFhirServer({ requireToken: 'sekret-token' });
    try {
      const f = fixtures.find((x) => x.slug === 'persistent-20-days-apart')!;
      await expect(runLoad({ fhir: secured.baseUrl, only: [f.slug] }, captureIo())).rejects.toThrow(/HTTP 401 \(does it need --token\?\)/);
      await runLoad({ fhir: secured.baseUrl, only: [f.slug], token: 'sekret-token' }, captureIo());
      await expect(runFire({ patient: f.expected.patient, fhir: secured.baseUrl, url: services.default!.url }, captureIo())).rejects.toThrow(/prefetch key "patient" \(Patient\/.*HTTP 401 \(does it need --token\?\)/);
      for (const prefetch of [true, false]) {
        const fired = await runFire({ patient: f.expected.patient, fhir: secured.baseUrl, url: services.default!.url, token: 'sekret-token', prefetch, json: true }, captureIo());
        expect(fired.request.fhirAuthorization).toMatchObject({ access_token: 'sekret-token', token_type: 'Bearer' });
        expect(findingCodes(fired.response!)).toEqual([...f.expected.findings].sort());
      }
    } finally {
      await secured.stop();
    }
  });
});

describe.each(fixtures.map((f) => [f.slug, f] as const))('fire %s', (_slug, fixture) => {
  const { expected } = fixture;
  const service = () => services[expected.profile ?? 'default']!;
  const want = [...expected.findings].sort();

  it(`with prefetch built from the templates → [${want.join(', ')}]`, async () => {
    const io = captureIo();
    const result = await runFire({ patient: expected.patient, fhir: fhir.baseUrl, url: service().url }, io);
    expect(result.status).toBe(200);
    expect(findingCodes(result.response!)).toEqual(want);
    expect(Object.keys(result.request.prefetch ?? {}).sort()).toEqual(Object.keys(service().registry.get('il6-inflammation')!.definition.prefetch!).sort());
    // The service used the prefetch only; it fetched nothing itself.
    expect(sources.get(result.request.hookInstance)!.every((s) => s === 'prefetch' || s === 'null')).toBe(true);
    assertReadable(io.text, result.response!);
  });

  it(`with --no-prefetch (the service fetches from the FHIR server) → [${want.join(', ')}]`, async () => {
    const io = captureIo();
    const result = await runFire({ patient: expected.patient, fhir: fhir.baseUrl, url: service().url, prefetch: false, json: true }, io);
    expect(result.status).toBe(200);
    expect(result.request.prefetch).toBeUndefined();
    expect(findingCodes(result.response!)).toEqual(want);
    expect(sources.get(result.request.hookInstance)!.every((s) => s === 'fetched')).toBe(true);
    expect(JSON.parse(io.text)).toEqual(result.body); // --json prints the raw response
  });
});

/** The terminal text shows every card's indicator, summary, detail without Markdown escapes, and its override reasons. */
function assertReadable(text: string, response: CdsResponse): void {
  if (response.cards.length === 0) {
    expect(text).toContain('No cards');
    return;
  }
  for (const card of response.cards) {
    expect(text).toContain(`[${card.indicator.toUpperCase()}]`);
    expect(text.replace(/\s+/g, ' ')).toContain(card.summary.replace(/\\([\\`*_[\]|#!])/g, '$1').replace(/\s+/g, ' '));
    for (const s of card.suggestions ?? []) expect(text).toContain(s.label);
  }
  expect(text).not.toMatch(/\*\*|\\\||&lt;|&gt;|&amp;/);
  expect(text).toContain('Override reasons: ');
}

async function count(type: string): Promise<number> {
  const res = await fetch(`${fhir.baseUrl}/${type}?_summary=count`);
  return ((await res.json()) as Bundle).total!;
}
