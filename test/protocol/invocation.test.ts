/**
 * CDS Hooks 2.0 conformance, service calls and error routing: checklist items 13–24 and 40–44 of
 * docs/cds-hooks.md, against the real service and a real FHIR server.
 */
import type { CdsResponse, PrefetchValue } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { findingCodes, hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';

const ID = 'il6-inflammation';
const fixture = listFixtures().find((f) => f.slug === 'persistent-20-days-apart')!;
const patient = fixture.expected.patient;
let service: RunningServer;
let fhir: TestFhirServer;
let prefetch: Record<string, PrefetchValue>;

beforeAll(async () => {
  fhir = await startTestFhirServer();
  await fhir.load(rebase(fixture.bundle));
  service = await startTestService();
  prefetch = buildPrefetch(service.registry.get(ID)!.definition.prefetch!, fixtureResources(fixture), patient);
});
afterAll(async () => {
  await service.close();
  await fhir.stop();
});
beforeEach(() => fhir.setFault(undefined));

const allNull = () => Object.fromEntries(Object.keys(prefetch).map((k) => [k, null]));

describe('invocation (checklist 13–24)', () => {
  it('item 13: a valid request (UUID hookInstance, userId, patientId, every prefetch key) → 200 JSON', async () => {
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch }));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('item 14: the response has a cards array', async () => {
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch }));
    expect(Array.isArray((reply.body as CdsResponse).cards)).toBe(true);
    expect(findingCodes(reply.body as CdsResponse)).toEqual(['il6-hscrp', 'il6-persistent']);
  });

  it('item 15: systemActions is absent or an array of Actions', async () => {
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch }));
    const sa = (reply.body as CdsResponse).systemActions;
    expect(sa === undefined || Array.isArray(sa)).toBe(true);
  });

  it('item 16: no guidance → exactly {"cards":[]}', async () => {
    const res = await fetch(`${service.url}/cds-services/${ID}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hookRequest('nobody', { prefetch: allNull() })) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"cards":[]}');
  });

  it('item 17: works with and without encounterId', async () => {
    const without = await postHook(service.url, ID, hookRequest(patient, { prefetch }));
    const req = hookRequest(patient, { prefetch });
    req.context.encounterId = 'enc-1';
    const withEnc = await postHook(service.url, ID, req);
    expect(withEnc.status).toBe(200);
    expect(findingCodes(withEnc.body as CdsResponse)).toEqual(findingCodes(without.body as CdsResponse));
  });

  it('item 18: unknown top-level fields and an extension object are ignored', async () => {
    const reply = await postHook(service.url, ID, { ...hookRequest(patient, { prefetch }), somethingNew: { a: 1 }, extension: { 'org.example.flag': true } });
    expect(reply.status).toBe(200);
    expect(findingCodes(reply.body as CdsResponse)).toEqual(['il6-hscrp', 'il6-persistent']);
  });

  it('item 19: a prefetch key with value null means "no data": 200, and the FHIR server is not re-queried', async () => {
    const before = fhir.requests.length;
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch: allNull(), fhirServer: fhir.baseUrl }));
    expect(reply.status).toBe(200);
    expect((reply.body as CdsResponse).cards).toEqual([]);
    expect(fhir.requests.length).toBe(before);
  });

  it('item 20: an OperationOutcome prefetch value is detected, not used as data (fetched instead, or 412)', async () => {
    const oo: PrefetchValue = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout', diagnostics: 'EHR could not run the query' }] };
    const before = fhir.requests.length;
    const fetched = await postHook(service.url, ID, hookRequest(patient, { prefetch: { ...prefetch, observations: oo }, fhirServer: fhir.baseUrl }));
    expect(fetched.status).toBe(200);
    expect(findingCodes(fetched.body as CdsResponse)).toEqual(['il6-hscrp', 'il6-persistent']);
    expect(fhir.requests.slice(before).map((r) => r.url)).toEqual([expect.stringMatching(/^\/fhir\/Observation\?/)]);
    const refused = await postHook(service.url, ID, hookRequest(patient, { prefetch: { ...prefetch, observations: oo } }));
    expect(refused.status).toBe(412);
    expect(JSON.stringify(refused.body)).toContain('prefetch.observations');
    expect(JSON.stringify(refused.body)).toContain('holds an OperationOutcome instead of data');
  });

  it('item 21: prefetch absent + fhirServer + fhirAuthorization → the service GETs with Bearer <access_token>', async () => {
    const before = fhir.requests.length;
    const auth = { access_token: 'tok-item-21', token_type: 'Bearer' as const, expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds' };
    const reply = await postHook(service.url, ID, hookRequest(patient, { fhirServer: fhir.baseUrl, fhirAuthorization: auth }));
    expect(reply.status).toBe(200);
    const seen = fhir.requests.slice(before);
    expect(seen.length).toBeGreaterThanOrEqual(Object.keys(prefetch).length);
    for (const r of seen) {
      expect(r.method).toBe('GET');
      expect(r.authorization).toBe('Bearer tok-item-21');
    }
  });

  it('item 22: required prefetch absent and no usable FHIR access → 412 naming the keys', async () => {
    const none = await postHook(service.url, ID, hookRequest(patient, { prefetch: { patient: prefetch.patient! } }));
    expect(none.status).toBe(412);
    const text = JSON.stringify(none.body);
    for (const key of Object.keys(prefetch).filter((k) => k !== 'patient')) expect(text).toContain(`prefetch.${key}`);
    for (const status of [401, 500, 503]) {
      fhir.setFault({ status });
      const reply = await postHook(service.url, ID, hookRequest(patient, { fhirServer: fhir.baseUrl }));
      expect(reply.status).toBe(412);
      expect(JSON.stringify(reply.body)).toContain(`HTTP ${status}`);
    }
  });

  it('item 23: 412 and other non-2xx bodies are OperationOutcomes with actionable messages', async () => {
    const reply = await postHook(service.url, ID, hookRequest(patient));
    expect(reply.status).toBe(412);
    const oo = reply.body as { issue: { severity: string; code: string; diagnostics: string }[] };
    expect(oo.issue[0]).toMatchObject({ severity: 'error', code: 'processing' });
    expect(oo.issue[0]!.diagnostics).toMatch(/Provide it .* or give fhirServer/);
  });

  it('item 24: with full prefetch the call needs no network round trip (latency is measured by `npm run bench`)', async () => {
    const before = fhir.requests.length;
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch, fhirServer: fhir.baseUrl }));
    expect(reply.status).toBe(200);
    expect(fhir.requests.length).toBe(before);
  });
});

describe('errors and routing (checklist 40–44)', () => {
  it('item 40: unknown service id → 404 OperationOutcome', async () => {
    const reply = await postHook(service.url, 'no-such-service', hookRequest(patient, { prefetch }));
    expect(reply.status).toBe(404);
    expect(JSON.stringify(reply.body)).toContain('GET /cds-services lists the services');
  });

  it('item 41: a hook other than the service\'s → 400 OperationOutcome', async () => {
    const reply = await postHook(service.url, ID, { ...hookRequest(patient, { prefetch }), hook: 'order-sign' });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain('answers the \\"patient-view\\" hook, not \\"order-sign\\"');
  });

  it.each([
    ['non-JSON body', '{"hook": "patient-view",', /not valid JSON/],
    ['a JSON array', '[]', /must be a JSON object/],
    ['a JSON string', '"patient-view"', /must be a JSON object, not a single JSON value/],
    ['missing hook', JSON.stringify({ hookInstance: 'x', context: { userId: 'Practitioner/1', patientId: 'p' } }), /hook is required/],
    ['missing hookInstance', JSON.stringify({ hook: 'patient-view', context: { userId: 'Practitioner/1', patientId: 'p' } }), /hookInstance is required/],
    ['missing context', JSON.stringify({ hook: 'patient-view', hookInstance: 'x' }), /context is required/],
    ['missing context.patientId', JSON.stringify({ hook: 'patient-view', hookInstance: 'x', context: { userId: 'Practitioner/1' } }), /context\.patientId is required/],
    ['missing context.userId', JSON.stringify({ hook: 'patient-view', hookInstance: 'x', context: { patientId: 'p' } }), /context\.userId is required/],
    ['an empty body', '', /must be a JSON object|not valid JSON|hook is required/],
  ])('item 42: %s → 400 with an actionable OperationOutcome', async (_name, raw, message) => {
    const reply = await postHook(service.url, ID, raw);
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toMatch(message);
  });

  it.each(['practitioner-1', 'Device/1', 'Practitioner/', 'Practitioner/a b'])('item 43: userId %p is not Type/id of an allowed type → 400', async (userId) => {
    const req = hookRequest(patient, { prefetch });
    req.context.userId = userId;
    const reply = await postHook(service.url, ID, req);
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain('context.userId');
  });

  it('item 44: fhirAuthorization without fhirServer → 400', async () => {
    const auth = { access_token: 't', token_type: 'Bearer' as const, expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds' };
    const reply = await postHook(service.url, ID, hookRequest(patient, { prefetch, fhirAuthorization: auth }));
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain('fhirServer');
  });

  it('a GET on a service URL is 405, an unknown path 404 — OperationOutcomes, never 500', async () => {
    const get = await fetch(`${service.url}/cds-services/${ID}`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const other = await fetch(`${service.url}/nothing/here`);
    expect(other.status).toBe(404);
  });
});

describe('body limits', () => {
  it('a 6 MB body gets 413 and malformed JSON 400, without disturbing concurrent valid requests', async () => {
    const big = JSON.stringify({ ...hookRequest(patient, { prefetch }), padding: 'x'.repeat(6 * 1024 * 1024) });
    const valid = () => postHook(service.url, ID, hookRequest(patient, { prefetch }));
    const results = await Promise.all([
      postHook(service.url, ID, big),
      valid(),
      postHook(service.url, ID, '{"hook":'),
      valid(),
      postHook(service.url, ID, big),
      valid(),
    ]);
    expect(results.map((r) => r.status)).toEqual([413, 200, 400, 200, 413, 200]);
    for (const r of [results[1], results[3], results[5]]) expect(findingCodes(r!.body as CdsResponse)).toEqual(['il6-hscrp', 'il6-persistent']);
    expect(JSON.stringify(results[0]!.body)).toMatch(/exceeds the limit of 5242880 bytes/);
  });
});
