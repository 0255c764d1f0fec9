/**
 * The preview page's server side: the page and its files, the JSON API (services, fixtures, fire a fixture or a
 * FHIR server patient, chart data from the evaluation), refusals, and when it is served at all.
 */
import type { Bundle, Observation } from 'fhir/r4';
import request from 'supertest';
import { createApp } from '../../src/app';
import { silentLogger } from '../../src/logger';
import { listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import { previewEnabled } from '../../src/preview/router';
import type { PreviewChart } from '../../src/preview/chart';
import type { RunningServer } from '../../src/server';
import { loadServices } from '../../src/services/registry';
import { loadConfig } from '../../src/config';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { startTestService, testConfig } from '../support/service';

let service: RunningServer;
beforeAll(async () => {
  service = await startTestService({ config: { preview: 'on' } });
});
afterAll(async () => {
  await service.close();
});

async function fire(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${service.url}/preview/api/fire`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

function il6Ids(slug: string): string[] {
  const f = listFixtures().find((x) => x.slug === slug)!;
  return (f.bundle.entry ?? [])
    .map((e) => e.resource as Observation)
    .filter((r) => r.resourceType === 'Observation' && r.code.coding?.some((c) => c.code === '26881-3'))
    .map((r) => `Observation/${r.id}`);
}

describe('page and files', () => {
  it('serves the page at / with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${service.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await res.text()).toContain('<script type="module" src="/preview/static/app.js"></script>');
  });

  it.each(['app.js', 'chart.js', 'cards.js', 'markdown.js', 'style.css'])('serves %s', async (name) => {
    const res = await fetch(`${service.url}/preview/static/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(name.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each(['..%2F..%2Fpackage.json', 'index.ts', 'nothing.js', '.hidden.js'])('does not serve %s', async (name) => {
    expect((await fetch(`${service.url}/preview/static/${name}`)).status).toBe(404);
  });
});

describe('API', () => {
  it('lists the services with their profiles', async () => {
    const body = await (await fetch(`${service.url}/preview/api/services`)).json();
    expect(body).toEqual([expect.objectContaining({ id: 'il6-inflammation', hook: 'patient-view', profile: 'default', profiles: ['default', 'longevity'], chart: true })]);
  });

  it('lists the fixtures with their titles and expected findings', async () => {
    const body = (await (await fetch(`${service.url}/preview/api/fixtures`)).json()) as { slug: string; title: string; findings: string[]; profile: string }[];
    expect(body.length).toBe(listFixtures().length);
    expect(body.find((f) => f.slug === 'combo-persistent-rising-trend')).toEqual({
      slug: 'combo-persistent-rising-trend',
      title: expect.stringContaining('persistent and rising'),
      profile: 'default',
      patient: 'il6cds-combo-persistent-rising-trend',
      findings: ['il6-persistent', 'il6-trend', 'il6-hscrp'],
    });
  });

  it('fires a fixture: its expected cards, and the chart of its evaluation', async () => {
    const r = await fire({ fixture: 'trend-confounded-point-excluded' });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect(r.body).toMatchObject({ service: { id: 'il6-inflammation' }, profile: 'default', patientId: 'il6cds-trend-confounded-point-excluded', source: 'fixture', cards: [] });
    expect(r.body.keys.every((k: { source: string }) => k.source === 'prefetch')).toBe(true);
    const chart = r.body.chart as PreviewChart;
    expect(chart.title).toBe('IL-6 over time');
    expect(chart.axes).toEqual({ series: { label: 'IL-6', unit: 'pg/mL' }, secondary: { label: 'hs-CRP / CRP', unit: 'mg/L' } });
    expect(chart.bands).toEqual([
      { name: 'optimal', from: null, to: 1.5, inclusive: false },
      { name: 'mild', from: 1.5, to: 3, inclusive: true },
      { name: 'elevated', from: 3, to: 7, inclusive: true },
      { name: 'significant', from: 7, to: null, inclusive: false },
    ]);
    expect(chart.marks).toEqual([{ flag: 'interfered', relation: 'interference' }, { flag: 'confounded', relation: 'confounders' }]);
    expect(chart.series.map((p) => p.ref).sort()).toEqual(il6Ids('trend-confounded-point-excluded').sort());
    expect(chart.series.map((p) => [p.value, p.tier, p.flags, p.why])).toEqual([
      [1.6, 'mild', [], []],
      [4, 'elevated', ['confounded'], ['confounded: fever']],
      [1.7, 'mild', [], []],
    ]);
    expect(chart.series.every((p, i) => p.t !== null && (i === 0 || p.t > chart.series[i - 1]!.t!))).toBe(true);
    expect(chart.secondary).toEqual([expect.objectContaining({ value: 0.9, reported: '0.9 mg/L', label: 'hs-CRP', flags: [] })]);
  });

  it('flags interfered and excluded results, and names the findings that cite each result', async () => {
    const interfered = (await fire({ fixture: 'interference-latest-only-earlier-eligible' })).body.chart as PreviewChart;
    const latest = interfered.series[interfered.series.length - 1]!;
    expect(latest.flags).toContain('interfered');
    expect(latest.usedBy).toContain('il6-interference');
    const excluded = (await fire({ fixture: 'status-preliminary-ignored' })).body.chart as PreviewChart;
    expect(excluded.series.map((p) => p.flags)).toEqual([[], ['excluded: status preliminary']]);
    expect(excluded.series[0]!.usedBy).toEqual(['il6-hscrp']);
    const noTime = (await fire({ fixture: 'value-no-time-excluded' })).body.chart as PreviewChart;
    expect(noTime.series.find((p) => p.t === null)).toMatchObject({ value: 9.5, flags: ['excluded: no date or time'] });
  });

  it('uses the fixture’s profile unless one is asked for; the bands follow the profile', async () => {
    const longevity = await fire({ fixture: 'longevity-persistent-2-5-pair' });
    expect(longevity.body.profile).toBe('longevity');
    expect(longevity.body.cards.map((c: { source: { topic: { code: string } } }) => c.source.topic.code)).toEqual(['il6-persistent']);
    expect((longevity.body.chart as PreviewChart).bands[0]).toEqual({ name: 'optimal', from: null, to: 1.2, inclusive: false });
    const asDefault = await fire({ fixture: 'longevity-persistent-2-5-pair', profile: 'default' });
    expect(asDefault.body.profile).toBe('default');
    expect(asDefault.body.cards).toEqual([]);
  });

  describe('a FHIR server patient', () => {
    let fhir: TestFhirServer;
    beforeAll(async () => {
      fhir = await startTestFhirServer();
      await fhir.load(rebase(listFixtures().find((f) => f.slug === 'combo-persistent-rising-trend')!.bundle as Bundle));
    });
    afterAll(async () => {
      await fhir.stop();
    });

    it('is fetched by the service, with the same findings as the fixture', async () => {
      const r = await fire({ fhirServer: `${fhir.baseUrl}/`, patientId: 'il6cds-combo-persistent-rising-trend' });
      expect(r.status).toBe(200);
      expect(r.body.source).toBe('fhirServer');
      expect(r.body.keys.filter((k: { source: string }) => k.source === 'fetched').length).toBeGreaterThan(0);
      expect(r.body.cards.map((c: { source: { topic: { code: string } } }) => c.source.topic.code).sort()).toEqual(['il6-hscrp', 'il6-persistent', 'il6-trend']);
      expect((r.body.chart as PreviewChart).series).toHaveLength(3);
      expect(fhir.requests.some((q) => q.url.startsWith('/fhir/Observation?patient=il6cds-combo-persistent-rising-trend'))).toBe(true);
    });

    it('answers 404 naming the patient when the FHIR server has no such patient (not an empty "no cards")', async () => {
      const r = await fire({ fhirServer: fhir.baseUrl, patientId: 'il6cds-no-such-patient' });
      expect(r.status).toBe(404);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue[0].diagnostics).toMatch(/Patient "il6cds-no-such-patient" was not found on .*check the patient id/);
    });

    it('answers 422 naming the element when the FHIR server\'s patient is not valid FHIR R4 (not "not found")', async () => {
      const id = 'il6cds-unreadable-patient';
      await fhir.load({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', id, birthDate: '1965-9-2' } as fhir4.Patient, request: { method: 'PUT', url: `Patient/${id}` } }] });
      const r = await fire({ fhirServer: fhir.baseUrl, patientId: id });
      expect(r.status).toBe(422);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue[0].diagnostics).toBe(
        `Patient "${id}" on ${fhir.baseUrl} is not valid FHIR R4 (/birthDate: pattern), so the rules cannot read it: correct that element of Patient/${id} on the FHIR server.`,
      );
    });

    it('contacts only the FHIR servers the hook allows a development caller', async () => {
      const before = fhir.requests.length;
      const r = await fire({ fhirServer: 'http://10.255.255.1/fhir', patientId: 'il6cds-combo-persistent-rising-trend' });
      expect(r.status).toBe(412);
      expect(r.body.issue[0].diagnostics).toMatch(/not one this service may contact/);
      expect(fhir.requests.length).toBe(before);
    });

    it('fails with the hook’s 412 when the server cannot be reached', async () => {
      fhir.setFault({ status: 500 });
      try {
        const r = await fire({ fhirServer: fhir.baseUrl, patientId: 'il6cds-combo-persistent-rising-trend' });
        expect(r.status).toBe(412);
        expect(r.body.resourceType).toBe('OperationOutcome');
      } finally {
        fhir.setFault(undefined);
      }
    });
  });

  it.each([
    [[], 400, /JSON object/],
    [{ fixture: 5 }, 400, /fixture must be a string/],
    [{}, 400, /Give a fixture, or a fhirServer/],
    [{ fixture: 'empty-record', fhirServer: 'http://x.example/fhir', patientId: 'p' }, 400, /not both/],
    [{ fixture: 'no-such-fixture' }, 404, /no fixture "no-such-fixture"/],
    [{ fixture: 'empty-record', service: 'nope' }, 404, /no CDS service "nope"/],
    [{ fixture: 'empty-record', profile: 'strict' }, 400, /no profile "strict"/],
    // names every object has (Object.prototype) are not profiles either: 400, not a 500
    [{ fixture: 'trend-rising', profile: 'constructor' }, 400, /no profile "constructor"/],
    [{ fixture: 'trend-rising', profile: 'toString' }, 400, /no profile "toString"/],
    [{ fhirServer: 'ftp://x.example/fhir', patientId: 'p' }, 400, /fhirServer/],
    [{ fhirServer: 'http://x.example/fhir', patientId: 'bad id!' }, 400, /patientId/],
  ])('refuses %j with %i', async (body, status, message) => {
    const r = await fire(body);
    expect(r.status).toBe(status);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join(' ')).toMatch(message);
  });

  it('refuses calls from pages of another origin, and grants no CORS', async () => {
    const foreign = await fire({ fixture: 'empty-record' }, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const own = await fire({ fixture: 'empty-record' }, { origin: service.url });
    expect(own.status).toBe(200);
    const list = await fetch(`${service.url}/preview/api/fixtures`, { headers: { origin: 'http://localhost.evil.example' } });
    expect(list.status).toBe(403);
  });

  it('answers only on loopback names and PREVIEW_HOSTS: a rebound foreign name is refused even as its own origin', async () => {
    const appWith = (previewHosts?: string) => {
      const config = testConfig({ preview: 'on', previewHosts });
      return createApp({ config, logger: silentLogger, registry: loadServices(config.servicesDir, { profile: 'default' }) });
    };
    const app = appWith();
    // DNS rebinding: evil.example now resolves to this machine, and its page calls "its own" origin.
    const rebound = await request(app).get('/preview/api/fixtures').set('Host', 'evil.example:8080').set('Origin', 'http://evil.example:8080');
    expect(rebound.status).toBe(403);
    expect(rebound.body.issue[0].diagnostics).toMatch(/PREVIEW_HOSTS/);
    expect((await request(app).post('/preview/api/fire').set('Host', 'evil.example').send({ fixture: 'empty-record' })).status).toBe(403);
    for (const host of ['localhost:8080', 'LOCALHOST', '127.0.0.1:9', '[::1]:8080']) {
      expect({ host, status: (await request(app).get('/preview/api/fixtures').set('Host', host)).status }).toEqual({ host, status: 200 });
    }
    const named = appWith('cds-dev.example.org, other.example');
    expect((await request(named).get('/preview/api/fixtures').set('Host', 'cds-dev.example.org:8443').set('Origin', 'https://cds-dev.example.org:8443')).status).toBe(200);
    expect((await request(named).get('/preview/api/fixtures').set('Host', 'evil.example')).status).toBe(403);
    expect(() => loadConfig({ PREVIEW_HOSTS: 'https://cds-dev.example.org' })).toThrow(/PREVIEW_HOSTS is invalid/);
  });
});

describe('when the preview is served', () => {
  it('is on by default except in production, and PREVIEW decides when set', () => {
    expect(previewEnabled({ nodeEnv: 'development', preview: undefined })).toBe(true);
    expect(previewEnabled({ nodeEnv: 'test', preview: undefined })).toBe(true);
    expect(previewEnabled({ nodeEnv: 'production', preview: undefined })).toBe(false);
    expect(previewEnabled({ nodeEnv: 'production', preview: 'on' })).toBe(true);
    expect(previewEnabled({ nodeEnv: 'development', preview: 'off' })).toBe(false);
  });

  // Production itself needs the auth settings; whether the page is mounted there is previewEnabled's decision above.
  it.each([
    ['development, PREVIEW unset', 'development', undefined, 200],
    ['development, PREVIEW=off', 'development', 'off', 404],
    ['test, PREVIEW=on', 'test', 'on', 200],
  ] as const)('%s: GET / and the API answer %i', async (_name, nodeEnv, preview, status) => {
    const config = { ...testConfig(), nodeEnv, preview };
    const app = createApp({ config, logger: silentLogger, registry: loadServices(config.servicesDir, { profile: 'default' }) });
    expect((await request(app).get('/')).status).toBe(status);
    expect((await request(app).get('/preview/api/fixtures')).status).toBe(status);
    expect((await request(app).post('/preview/api/fire').send({ fixture: 'empty-record' })).status).toBe(status);
  });
});
