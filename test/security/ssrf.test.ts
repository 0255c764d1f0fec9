/**
 * Checklist item 55, the SSRF guard: the service contacts a request's `fhirServer` — and hands it the EHR's
 * access token — only when that URL lies under a FHIR base URL bound to the authenticated caller's issuer.
 * Otherwise it behaves as if no FHIR access had been given (412 where data is missing), and logs the refusal
 * without the token. Two real FHIR servers on loopback record every request they receive.
 */
import { Writable } from 'node:stream';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import { createLogger } from '../../src/logger';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { hookRequest } from '../support/cds-client';
import { startTestService } from '../support/service';
import { call, makeIssuer, tempDir, writeIssuersFile, type TestIssuer } from './support/issuers';

const SERVICE = 'il6-inflammation';
const fixture = listFixtures().find((f) => f.slug === 'combo-persistent-rising-trend')!;
const PATIENT = fixture.expected.patient;
const ACCESS_TOKEN = 'ehr-access-token-7f3c9a1e-not-for-other-servers';

let allowed: TestFhirServer; // bound to the issuer
let other: TestFhirServer; // a server the caller names but its issuer does not list
let issuer: TestIssuer;
let server: RunningServer;
const logLines: string[] = [];

beforeAll(async () => {
  allowed = await startTestFhirServer({ requireToken: ACCESS_TOKEN });
  other = await startTestFhirServer();
  const bundle = rebase(fixture.bundle);
  await allowed.load(bundle);
  await other.load(bundle);
  issuer = await makeIssuer('https://ehr-ssrf.example.test');
  const file = writeIssuersFile(tempDir(), [{ iss: issuer.iss, jwks: issuer.jwks, fhirServers: [allowed.baseUrl] }]);
  const logger = createLogger('debug', new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) }));
  server = await startTestService({ config: { auth: 'required', trustedIssuersFile: file }, logger });
});

afterAll(async () => {
  await server?.close();
  await allowed?.stop();
  await other?.stop();
});

beforeEach(() => {
  allowed.requests.length = 0;
  other.requests.length = 0;
});

const url = () => `${server.url}/cds-services/${SERVICE}`;
async function hook(body: unknown) {
  return call(url(), { token: await issuer.sign({ aud: url() }), body });
}
const withFhir = (fhirServer: string) =>
  hookRequest(PATIENT, { fhirServer, fhirAuthorization: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds' } });

describe('item 55: the FHIR-server allowlist (SSRF guard)', () => {
  it('item 55: a fhirServer bound to the caller\'s issuer is contacted with the access token', async () => {
    const res = await hook(withFhir(allowed.baseUrl));
    expect(res.status).toBe(200);
    expect(allowed.requests.length).toBeGreaterThan(0);
    expect(allowed.requests.every((r) => r.authorization === `Bearer ${ACCESS_TOKEN}`)).toBe(true);
  });

  it('item 55: a fhirServer not bound to the caller\'s issuer is never contacted and never receives the token → 412', async () => {
    const res = await hook(withFhir(other.baseUrl));
    expect(res.status).toBe(412);
    expect(res.text).not.toContain(ACCESS_TOKEN);
    expect(res.text).toMatch(/not one this service may contact/);
    expect(other.requests).toEqual([]);
    expect(allowed.requests).toEqual([]);
    const refusal = logLines.find((l) => l.includes('fhirServer not allowed'));
    expect(refusal).toBeDefined();
    expect(JSON.parse(refusal!)).toMatchObject({ iss: issuer.iss, fhirServer: new URL(other.baseUrl).origin });
    expect(logLines.join('')).not.toContain(ACCESS_TOKEN);
  });

  it('item 55: look-alike URLs are refused: a sibling path, user info, dot segments, another port, a query', async () => {
    const base = new URL(allowed.baseUrl);
    const lookAlikes = [
      `${allowed.baseUrl}x`, // /fhirx
      `${base.protocol}//user:pass@${base.host}${base.pathname}`,
      `${allowed.baseUrl}/../other`,
      `${base.protocol}//${base.hostname}:${Number(base.port) === 1 ? 2 : 1}${base.pathname}`,
      `${allowed.baseUrl}?x=1`,
      allowed.baseUrl.replace('http://', 'https://'),
      other.baseUrl,
    ];
    for (const fhirServer of lookAlikes) {
      const res = await hook(withFhir(fhirServer));
      expect([fhirServer, res.status]).toEqual([fhirServer, res.status === 400 ? 400 : 412]);
    }
    expect(allowed.requests).toEqual([]);
    expect(other.requests).toEqual([]);
  });

  it('item 55: with full prefetch a disallowed fhirServer does not matter: 200, nothing is contacted', async () => {
    const prefetch = buildPrefetch(server.registry.get(SERVICE)!.definition.prefetch!, fixtureResources(fixture), PATIENT);
    const res = await hook({ ...withFhir(other.baseUrl), prefetch });
    expect(res.status).toBe(200);
    expect(other.requests).toEqual([]);
  });

  it('item 55: a prefetched Bundle whose next link points at another server is not followed there', async () => {
    const prefetch = buildPrefetch(server.registry.get(SERVICE)!.definition.prefetch!, fixtureResources(fixture), PATIENT) as Record<string, { link?: unknown[] } | null>;
    prefetch.observations = { ...prefetch.observations!, link: [{ relation: 'next', url: `${other.baseUrl}/Observation?page=2` }] };
    const res = await hook({ ...withFhir(allowed.baseUrl), prefetch });
    expect(res.status).toBe(412);
    expect(other.requests).toEqual([]);
  });

  it('item 55: AUTH=disabled uses the development allowlist: loopback servers yes, anything else is not contacted', async () => {
    const open = await startTestService();
    try {
      const svcUrl = `${open.url}/cds-services/${SERVICE}`;
      const ok = await call(svcUrl, { body: hookRequest(PATIENT, { fhirServer: other.baseUrl }) });
      expect(ok.status).toBe(200);
      expect(other.requests.length).toBeGreaterThan(0);
      // 192.0.2.0/24 is TEST-NET-1: never routed; a 412 in milliseconds shows no connection was even tried.
      const started = Date.now();
      const refused = await call(svcUrl, { body: hookRequest(PATIENT, { fhirServer: 'http://192.0.2.10/fhir', fhirAuthorization: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds' } }) });
      expect(refused.status).toBe(412);
      expect(Date.now() - started).toBeLessThan(1_000);
      const metadata = await call(svcUrl, { body: hookRequest(PATIENT, { fhirServer: 'http://169.254.169.254/latest/meta-data' }) });
      expect(metadata.status).toBe(412);
    } finally {
      await open.close();
    }
  });
});
