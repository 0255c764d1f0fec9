/**
 * Bad input that breaks nothing: body size and nesting limits, no `__proto__`, security headers, and prefetch
 * resources that are not valid FHIR R4 left out of the evaluation and reported (never a crash), with
 * authentication on.
 */
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { Bundle, FhirResource, Observation } from 'fhir/r4';
import { signDevToken } from '../../src/auth';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { createLogger } from '../../src/logger';
import type { RunningServer } from '../../src/server';
import { findingCodes, hookRequest } from '../support/cds-client';
import { startTestService } from '../support/service';
import { call } from './support/issuers';

const SERVICE = 'il6-inflammation';
const fixture = listFixtures().find((f) => f.slug === 'combo-persistent-rising-trend')!;
const PATIENT = fixture.expected.patient;
const resources = fixtureResources(fixture);
let server: RunningServer;
const logLines: string[] = [];

beforeAll(async () => {
  const logger = createLogger('debug', new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) }));
  server = await startTestService({ config: { auth: 'required', bodyLimitBytes: 64 * 1024, jsonMaxDepth: 32 }, logger });
});
afterAll(() => server?.close());

const url = () => `${server.url}/cds-services/${SERVICE}`;
const templates = () => server.registry.get(SERVICE)!.definition.prefetch!;
const fullPrefetch = () => buildPrefetch(templates(), resources, PATIENT) as Record<string, FhirResource | null>;
async function hook(body: unknown, headers: Record<string, string> = {}) {
  return call(url(), { token: await signDevToken({ aud: url() }), body, headers });
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

describe('input hardening', () => {
  it('a body over BODY_LIMIT_BYTES → 413 OperationOutcome (authenticated caller)', async () => {
    const res = await hook(JSON.stringify({ ...hookRequest(PATIENT), extension: { 'org.example.pad': 'x'.repeat(70 * 1024) } }));
    expect(res.status).toBe(413);
    expect((res.body as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('an unauthenticated caller gets 401 before its body is even read (no 413, no parse)', async () => {
    const res = await call(url(), { body: 'x'.repeat(200 * 1024) });
    expect(res.status).toBe(401);
  });

  it('nesting deeper than JSON_MAX_DEPTH → 400; at the limit → accepted', async () => {
    const deep = await hook({ ...hookRequest(PATIENT), extension: { 'org.example.deep': nested(40) } });
    expect(deep.status).toBe(400);
    expect(JSON.stringify(deep.body)).toMatch(/deeper than 32 levels/);
    const veryDeep = await hook(`{"hook":"patient-view","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    expect(veryDeep.status).toBe(400);
    const ok = await hook({ ...hookRequest(PATIENT), prefetch: fullPrefetch(), extension: { 'org.example.deep': nested(25) } });
    expect(ok.status).toBe(200);
  });

  it.each<{ name: string; body: string; headers: Record<string, string>; status: number; message: RegExp }>([
    { name: 'a lone JSON value (null)', body: 'null', headers: {}, status: 400, message: /must be a JSON object, not a single JSON value/ },
    { name: 'a lone JSON value (a number)', body: '5', headers: {}, status: 400, message: /must be a JSON object, not a single JSON value/ },
    { name: 'text that is not JSON', body: 'nul', headers: {}, status: 400, message: /not valid JSON/ },
    { name: 'an unknown Content-Encoding', body: '{}', headers: { 'content-encoding': 'foo' }, status: 415, message: /Content-Encoding is not supported/ },
    { name: 'a charset other than UTF-8', body: '{}', headers: { 'content-type': 'application/json; charset=latin1' }, status: 415, message: /must be UTF-8 encoded JSON/ },
  ])('$name → $status, saying what to send', async ({ body, headers, status, message }) => {
    const res = await hook(body, headers);
    expect(res.status).toBe(status);
    expect((res.body as { issue: { diagnostics: string }[] }).issue[0]!.diagnostics).toMatch(message);
  });

  it('a "__proto__" key anywhere → 400, and nothing is polluted', async () => {
    const body = `{"hook":"patient-view","hookInstance":"${crypto.randomUUID()}","context":{"userId":"Practitioner/x","patientId":"${PATIENT}","__proto__":{"polluted":true}}}`;
    const res = await hook(body);
    expect(res.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('security headers on every response (200, 401, 404): CSP, nosniff, no framing, HSTS, no-store, no X-Powered-By', async () => {
    const responses = [await hook({ ...hookRequest(PATIENT), prefetch: fullPrefetch() }), await call(url(), { body: {} }), await call(`${server.url}/nothing-here`)];
    expect(responses.map((r) => r.status)).toEqual([200, 401, 404]);
    for (const r of responses) {
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('strict-transport-security')).toMatch(/max-age=31536000/);
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('x-powered-by')).toBeNull();
      expect(r.headers.get('access-control-allow-origin')).toBe('*'); // CORS still works (item 12)
    }
  });
});

describe('requests the HTTP parser rejects', () => {
  /** Sends raw bytes and returns the raw reply (status line, headers, body). */
  const raw = (bytes: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.end(bytes));
      let reply = '';
      socket.on('data', (d) => (reply += d.toString()));
      socket.on('end', () => resolve(reply));
      socket.on('error', reject);
    });

  it.each([
    { name: 'headers too large (a forged 40 KB token)', bytes: `POST /cds-services/${SERVICE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(40_000)}\r\n\r\n`, status: 431, message: /headers are too large/ },
    { name: 'a malformed request line', bytes: 'NOT HTTP AT ALL\r\n\r\n', status: 400, message: /malformed and could not be read/ },
    { name: 'a URL over 16 KB', bytes: `GET /cds-services?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 431, message: /Send a shorter URL/ },
    { name: 'no Host header', bytes: `POST /cds-services/${SERVICE} HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, status: 400, message: /no Host header/ },
    { name: 'an Expect header other than 100-continue', bytes: `POST /cds-services/${SERVICE} HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}`, status: 417, message: /Expect header can only be "100-continue"/ },
  ])('$name → $status with an OperationOutcome, never an empty reply', async ({ bytes, status, message }) => {
    const reply = await raw(bytes);
    expect(reply).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { resourceType: string; issue: { diagnostics: string }[] };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0]!.diagnostics).toMatch(message);
    // …and the service goes on answering.
    const res = await call(url(), { token: await signDevToken({ aud: url() }), body: { hookInstance: 'x' } });
    expect(res.status).toBe(400);
  });
});

describe('prefetch resources that are not valid FHIR R4', () => {
  it('are left out of the evaluation and reported in the log (type, path, keyword — no values); the call succeeds', async () => {
    const baseline = await hook({ ...hookRequest(PATIENT), prefetch: fullPrefetch() });
    expect(baseline.status).toBe(200);
    const prefetch = fullPrefetch();
    const obs = prefetch.observations as Bundle;
    const bogus: unknown[] = [
      { resourceType: 'Observation', id: 'bad-1', status: 'final', code: { text: 'x' }, valueQuantity: { value: 'high' } },
      { resourceType: 'Observation', id: 'bad-2', status: 'not-a-status', code: { text: 'x' } },
      { resourceType: 'Observation', id: 'bad-3', status: 'final', code: { text: 'x' }, effectiveDateTime: '2024-13-45', secretNote: 'PHI-LIKE-VALUE' },
      { resourceType: 'NotAResource', id: 'bad-4' },
      { resourceType: 'constructor', id: 'bad-5' },
    ];
    prefetch.observations = { ...obs, entry: [...(obs.entry ?? []), ...bogus.map((resource) => ({ resource: resource as FhirResource }))] };
    const res = await hook({ ...hookRequest(PATIENT), prefetch });
    expect(res.status).toBe(200);
    expect(findingCodes(res.body as CdsResponse)).toEqual(findingCodes(baseline.body as CdsResponse));
    const report = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'resources that are not valid FHIR R4 were left out of the evaluation');
    expect(report).toBeDefined();
    expect(report!.invalid).toEqual({ Observation: 3, NotAResource: 1, constructor: 1 });
    expect(JSON.stringify(report)).not.toMatch(/high|PHI-LIKE-VALUE|2024-13-45|bad-\d/);
    expect(report!.problems).toEqual(
      expect.arrayContaining([
        { resourceType: 'Observation', path: '/valueQuantity/value', keyword: 'type' },
        { resourceType: 'NotAResource', path: '/resourceType', keyword: 'unknown-resource-type' },
      ]),
    );
  });

  it('an invalid IL-6 result is not evaluated: the findings are those of the record without it', async () => {
    // The latest IL-6 result, broken: the service must not base advice on it.
    const il6 = resources.filter((r): r is Observation => r.resourceType === 'Observation' && !!r.code.coding?.some((c) => c.code === '26881-3'));
    const latest = il6.sort((x, y) => String(y.effectiveDateTime).localeCompare(String(x.effectiveDateTime)))[0]!;
    const without = resources.filter((r) => r !== latest);
    const broken = { ...latest, valueQuantity: { ...latest.valueQuantity, value: String(latest.valueQuantity?.value) } } as unknown as FhirResource;
    const expected = await hook({ ...hookRequest(PATIENT), prefetch: buildPrefetch(templates(), without, PATIENT) });
    const actual = await hook({ ...hookRequest(PATIENT), prefetch: buildPrefetch(templates(), [...without, broken], PATIENT) });
    expect(actual.status).toBe(200);
    expect(findingCodes(actual.body as CdsResponse)).toEqual(findingCodes(expected.body as CdsResponse));
    // …and every card tells the clinician that part of the record could not be read.
    for (const card of (actual.body as CdsResponse).cards) {
      expect(card.detail).toContain('**Record not fully read:** 1 resource was not valid FHIR R4 (Observation ×1) and was left out');
    }
    for (const card of (expected.body as CdsResponse).cards) expect(card.detail).not.toContain('Record not fully read');
  });

  it('when they leave no finding, one info card says the record was not fully read (an empty answer reads as "nothing to note")', async () => {
    const f = listFixtures().find((x) => x.slug === 'tier-boundary-7-01-significant')!;
    const own = fixtureResources(f);
    const clean = await hook({ ...hookRequest(f.expected.patient), prefetch: buildPrefetch(templates(), own, f.expected.patient) });
    expect(findingCodes(clean.body as CdsResponse)).toEqual([...f.expected.findings].sort());
    // A vendor property on every Observation: none is valid R4, so nothing is evaluated.
    const vendor = own.map((r) => (r.resourceType === 'Observation' ? ({ ...r, vendorField: 'x' } as FhirResource) : r));
    const res = await hook({ ...hookRequest(f.expected.patient), prefetch: buildPrefetch(templates(), vendor, f.expected.patient) });
    expect(res.status).toBe(200);
    const cards = (res.body as CdsResponse).cards;
    expect(findingCodes(res.body as CdsResponse)).toEqual(['record-not-fully-read']);
    const n = vendor.filter((r) => r.resourceType === 'Observation').length;
    expect(cards[0]!.detail).toContain(`not valid FHIR R4 (Observation ×${n})`);
    expect(cards[0]!.summary.length).toBeLessThan(140);
  });
});

describe('resources about another patient than context.patientId', () => {
  const OTHER = 'someone-else';
  /** The latest IL-6 result again, above 7 pg/mL, about another patient. */
  const foreignIl6 = (): FhirResource => {
    const il6 = resources.filter((r): r is Observation => r.resourceType === 'Observation' && !!r.code.coding?.some((c) => c.code === '26881-3'));
    const latest = il6.sort((x, y) => String(y.effectiveDateTime).localeCompare(String(x.effectiveDateTime)))[0]!;
    return { ...latest, id: 'foreign-il6', subject: { reference: `https://ehr.example.org/fhir/Patient/${OTHER}` }, valueQuantity: { ...latest.valueQuantity, value: 42 } };
  };

  it('are left out of the evaluation, noted on every card and reported in the log without the other id', async () => {
    const expected = await hook({ ...hookRequest(PATIENT), prefetch: fullPrefetch() });
    const actual = await hook({ ...hookRequest(PATIENT), prefetch: buildPrefetch(templates(), [...resources, foreignIl6()], PATIENT) });
    expect(actual.status).toBe(200);
    const cards = (actual.body as CdsResponse).cards;
    expect(findingCodes(actual.body as CdsResponse)).toEqual(findingCodes(expected.body as CdsResponse));
    expect(JSON.stringify(cards)).not.toMatch(/42 pg\/mL|foreign-il6/);
    for (const card of cards) {
      expect(card.detail).toContain('**Record not fully read:** 1 resource was about another patient than the one in context (Observation ×1) and was left out');
    }
    const report = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'resources about another patient than context.patientId were left out of the evaluation');
    expect(report).toMatchObject({ otherPatient: { Observation: 1 }, problems: [{ resourceType: 'Observation', path: '/subject', keyword: 'other-patient' }] });
    expect(JSON.stringify(report)).not.toContain(OTHER);
  });

  it("a prefetch of another patient's record gives no advice for the patient in context", async () => {
    // context.patientId is PATIENT; the record (Patient and results) is someone else's.
    const moved = resources.map((r) => JSON.parse(JSON.stringify(r).replaceAll(`Patient/${PATIENT}`, `Patient/${OTHER}`)) as FhirResource);
    for (const r of moved) if (r.resourceType === 'Patient') r.id = OTHER;
    const prefetch = buildPrefetch(templates(), moved, OTHER);
    const res = await hook({ ...hookRequest(PATIENT), prefetch });
    expect(res.status).toBe(200);
    // No advice from someone else's results; one card saying the record was not fully read instead of an all-clear.
    expect(findingCodes(res.body as CdsResponse)).toEqual(['record-not-fully-read']);
    expect(JSON.stringify(res.body)).not.toMatch(/ServiceRequest|pg\/mL/);
    const [card] = (res.body as CdsResponse).cards;
    const n = moved.filter((r) => r.resourceType === 'Patient' || JSON.stringify(r).includes(`Patient/${OTHER}`)).length;
    expect(n).toBeGreaterThan(1);
    expect(card).toMatchObject({ indicator: 'info', summary: `IL-6 inflammation advisor: ${n} resources of the record could not be used; advice may be missing` });
    expect(card!.detail).toContain(`**Record not fully read:** ${n} resources were about another patient than the one in context (`);
  });
});
