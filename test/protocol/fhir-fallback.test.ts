/**
 * The FHIR fallback path against a real FHIR server: a slow or failing FHIR server never hangs the EHR
 * (412 within the deadline + 0.5 s), pages are followed on the same server only, and servers or EHRs that
 * ignore `_include` still yield the referenced Medications.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Bundle } from 'fhir/r4';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import { completeIncludes, fetchQuery, READ_CONCURRENCY } from '../../src/prefetch/fhir-client';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { findingCodes, hookRequest, postHook } from '../support/cds-client';
import { freePort } from '../support/free-port';
import { startTestService } from '../support/service';

const ID = 'il6-inflammation';
const DEADLINE_MS = 3000; // the default FHIR_TIMEOUT_MS
const fixture = listFixtures().find((f) => f.slug === 'persistent-20-days-apart')!;
let service: RunningServer;
let fhir: TestFhirServer;

beforeAll(async () => {
  fhir = await startTestFhirServer();
  await fhir.load(rebase(fixture.bundle));
  service = await startTestService();
  expect(service.registry).toBeDefined();
});
afterAll(async () => {
  await service.close();
  await fhir.stop();
});
beforeEach(() => fhir.setFault(undefined));

describe('a failing FHIR server yields 412 within the deadline + 0.5 s', () => {
  it.each([
    ['is down (connection refused)', async () => `http://127.0.0.1:${await freePort()}/fhir`],
    ['answers 401', async () => (fhir.setFault({ status: 401 }), fhir.baseUrl)],
    ['answers 500', async () => (fhir.setFault({ status: 500 }), fhir.baseUrl)],
    ['closes the connection without answering', async () => (fhir.setFault({ destroy: true }), fhir.baseUrl)],
    ['stalls past the deadline', async () => (fhir.setFault({ stallMs: DEADLINE_MS + 5000 }), fhir.baseUrl)],
  ])('when it %s', async (_name, setUp) => {
    const fhirServer = await setUp();
    const reply = await postHook(service.url, ID, hookRequest(fixture.expected.patient, { fhirServer }));
    expect(reply.status).toBe(412);
    expect(reply.ms).toBeLessThan(DEADLINE_MS + 500);
    const text = JSON.stringify(reply.body);
    expect(text).toContain('prefetch.observations');
    expect(text).not.toMatch(/ECONN|stack|at .*\.js/);
  });

  it('keeps answering other calls normally while one waits on a stalled FHIR server', async () => {
    fhir.setFault({ stallMs: DEADLINE_MS + 5000 });
    const stalled = postHook(service.url, ID, hookRequest(fixture.expected.patient, { fhirServer: fhir.baseUrl }));
    const quick = await postHook(service.url, ID, hookRequest('p', { prefetch: { patient: null, observations: null, conditions: null, procedures: null, encounters: null, medicationRequests: null, medicationStatements: null } }));
    expect(quick.status).toBe(200);
    expect(quick.ms).toBeLessThan(1000);
    expect((await stalled).status).toBe(412);
  });
});

describe('paging and includes', () => {
  it('follows next links to the last page, on the same server only', async () => {
    const controller = new AbortController();
    const limits = { signal: controller.signal, maxPages: 50, maxResources: 1000 };
    const all = await fetchQuery({ baseUrl: fhir.baseUrl }, `Observation?patient=${fixture.expected.patient}&_count=1`, limits);
    const onePage = await fetchQuery({ baseUrl: fhir.baseUrl }, `Observation?patient=${fixture.expected.patient}`, limits);
    expect(all.map((r) => r.id).sort()).toEqual(onePage.map((r) => r.id).sort());
    expect(all.length).toBeGreaterThan(1);
    await expect(fetchQuery({ baseUrl: fhir.baseUrl }, `Observation?patient=${fixture.expected.patient}&_count=1`, { ...limits, maxPages: 1 })).rejects.toThrow(/more than 1 pages/);
  });

  it('never follows a next link to another server (the access token stays with fhirServer)', async () => {
    const evil = http.createServer((req, res) => {
      evilSaw.push(req.headers.authorization ?? '(none)');
      res.end('{}');
    });
    const evilSaw: string[] = [];
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/fhir/Observation?page=2`;
    const page = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/fhir+json');
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [], link: [{ relation: 'next', url: evilUrl }] }));
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(page.address() as AddressInfo).port}/fhir`;
      const controller = new AbortController();
      await expect(fetchQuery({ baseUrl: base, accessToken: 'secret' }, 'Observation?patient=x', { signal: controller.signal, maxPages: 5, maxResources: 100 })).rejects.toThrow(/points to another server/);
      expect(evilSaw).toEqual([]);
    } finally {
      await new Promise<void>((r) => page.close(() => r()));
      await new Promise<void>((r) => evil.close(() => r()));
    }
  });

  it('reads the Medications a server left out although the query asked to _include them', async () => {
    const f = listFixtures().find((x) => x.slug === 'interference-medication-reference-code')!;
    await fhir.load(rebase(f.bundle));
    const before = fhir.requests.length;
    const reply = await postHook(service.url, ID, hookRequest(f.expected.patient, { fhirServer: fhir.baseUrl }));
    expect(findingCodes(reply.body as CdsResponse)).toEqual([...f.expected.findings].sort());
    expect(fhir.requests.slice(before).some((r) => /^\/fhir\/Medication\/[^?]+$/.test(r.url))).toBe(true);
  });

  it('reads left-out Medications at most READ_CONCURRENCY at a time, and no more of them than maxResources', async () => {
    // A server that ignores _include and answers with 40 orders, each naming its own Medication (read slowly).
    let inFlight = 0;
    let most = 0;
    let reads = 0;
    const server = http.createServer((req, res) => {
      if (req.url!.startsWith('/fhir/MedicationRequest?')) {
        const entry = Array.from({ length: 40 }, (_, i) => ({ resource: { resourceType: 'MedicationRequest', id: `rq${i}`, medicationReference: { reference: `Medication/m${i}` } } }));
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry }));
        return;
      }
      reads++;
      most = Math.max(most, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify({ resourceType: 'Medication', id: req.url!.split('/').pop() }));
      }, 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const access = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir` };
      const query = 'MedicationRequest?patient=p&_include=MedicationRequest:medication';
      const limits = { signal: new AbortController().signal, maxPages: 5, maxResources: 1000 };
      const all = await completeIncludes(access, query, await fetchQuery(access, query, limits), limits);
      expect(all.filter((r) => r.resourceType === 'Medication')).toHaveLength(40);
      expect(most).toBe(READ_CONCURRENCY);
      reads = 0;
      await expect(completeIncludes(access, query, await fetchQuery(access, query, { ...limits, maxResources: 60 }), { ...limits, maxResources: 60 })).rejects.toThrow(/more than 60 resources/);
      expect(reads).toBe(0);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  describe('a prefetch without the Medication its MedicationRequest refers to (an EHR that ignores _include)', () => {
    const f = listFixtures().find((x) => x.slug === 'interference-medication-reference-code')!;
    const templates = JSON.parse(readFileSync(path.join(__dirname, '../../cds-services', ID, 'discovery.json'), 'utf8')).prefetch as Record<string, string>;
    const full = () => buildPrefetch(templates, fixtureResources(f), f.expected.patient) as Record<string, Bundle | null>;
    const withoutMedication = () => {
      const prefetch = full();
      const requests = prefetch.medicationRequests!;
      expect(requests.entry!.some((e) => e.resource!.resourceType === 'Medication')).toBe(true);
      requests.entry = requests.entry!.filter((e) => e.resource!.resourceType !== 'Medication');
      return prefetch;
    };

    it('reads the Medication from fhirServer, so the IL-6 blocker is still seen', async () => {
      await fhir.load(rebase(f.bundle));
      const before = fhir.requests.length;
      const reply = await postHook(service.url, ID, hookRequest(f.expected.patient, { prefetch: withoutMedication(), fhirServer: fhir.baseUrl }));
      expect(reply.status).toBe(200);
      expect(findingCodes(reply.body as CdsResponse)).toEqual(['il6-interference']);
      const asked = fhir.requests.slice(before).map((r) => r.url);
      expect(asked).toEqual([expect.stringMatching(/^\/fhir\/Medication\/[^?/]+$/)]);
    });

    it('answers 412 naming the key when there is no fhirServer to read it from (instead of missing the blocker)', async () => {
      const reply = await postHook(service.url, ID, hookRequest(f.expected.patient, { prefetch: withoutMedication() }));
      expect(reply.status).toBe(412);
      const text = JSON.stringify(reply.body);
      expect(text).toContain('prefetch.medicationRequests');
      expect(text).toContain('refers to 1 resource(s) (Medication) that its template includes (_include) but the prefetch does not hold');
      expect(text).not.toContain('il6cds-interference');
    });

    it('needs no fhirServer when the Medication came under another key', async () => {
      const prefetch = withoutMedication();
      const medication = full().medicationRequests!.entry!.find((e) => e.resource!.resourceType === 'Medication')!;
      prefetch.medicationStatements = { resourceType: 'Bundle', type: 'searchset', entry: [medication] };
      const reply = await postHook(service.url, ID, hookRequest(f.expected.patient, { prefetch }));
      expect(reply.status).toBe(200);
      expect(findingCodes(reply.body as CdsResponse)).toEqual(['il6-interference']);
    });
  });

  it('completes a paginated prefetch from fhirServer, or answers 412 when it cannot', async () => {
    const page1: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [],
      link: [{ relation: 'next', url: `${fhir.baseUrl}/Observation?patient=${fixture.expected.patient}&_count=1&_offset=0` }],
    };
    const others = { patient: null, conditions: null, procedures: null, encounters: null, medicationRequests: null, medicationStatements: null };
    const completed = await postHook(service.url, ID, hookRequest(fixture.expected.patient, { prefetch: { ...others, observations: page1 }, fhirServer: fhir.baseUrl }));
    expect(findingCodes(completed.body as CdsResponse)).toEqual(['il6-hscrp', 'il6-persistent']);
    const refused = await postHook(service.url, ID, hookRequest(fixture.expected.patient, { prefetch: { ...others, observations: page1 } }));
    expect(refused.status).toBe(412);
    expect(JSON.stringify(refused.body)).toContain('has further pages that were not provided');
  });
});
