/**
 * The log carries no access token, no JWT and no patient identifier (beyond a salted hash). This test
 * captures every log line (level trace) of a full run against a real service with authentication on:
 * every synthetic patient of fhir-fixtures/ with full prefetch, a share of them through a FHIR server with the
 * EHR's access token, feedback on the cards, and every failure path — refused tokens of each kind, malformed
 * bodies carrying the patient id, unknown routes naming the patient, a refused fhirServer given the access
 * token, invalid FHIR resources, an oversized body — then asserts on the captured output.
 */
import { Writable } from 'node:stream';
import type { Bundle, FhirResource, Patient } from 'fhir/r4';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import { createLogger } from '../../src/logger';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { hookRequest } from '../support/cds-client';
import { startTestService } from '../support/service';
import { call, hmacToken, makeIssuer, tempDir, unsignedToken, writeIssuersFile, type TestIssuer } from './support/issuers';

const SERVICE = 'il6-inflammation';
const ACCESS_TOKEN = 'ehr-access-token-LOGLEAK-3b9f0c2d7e';
const fixtures = listFixtures();
const now = new Date();

const lines: string[] = [];
const jwts: string[] = [];
let issuer: TestIssuer;
let fhir: TestFhirServer;
let server: RunningServer;
const statuses = new Map<number, number>();

async function send(path: string, opts: { body?: unknown; token?: string | null; aud?: string; headers?: Record<string, string> } = {}) {
  const url = `${server.url}${path}`;
  let token = opts.token;
  if (token === undefined) token = await issuer.sign({ aud: opts.aud ?? url });
  if (token) jwts.push(token);
  const res = await call(url, { token: token ?? undefined, body: opts.body, headers: opts.headers });
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  return res;
}

beforeAll(async () => {
  fhir = await startTestFhirServer({ requireToken: ACCESS_TOKEN });
  for (const f of fixtures) await fhir.load(rebase(f.bundle, now));
  issuer = await makeIssuer('https://ehr-logs.example.test');
  const file = writeIssuersFile(tempDir(), [{ iss: issuer.iss, jwks: issuer.jwks, fhirServers: [fhir.baseUrl] }]);
  const logger = createLogger('trace', new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), cb()) }));
  server = await startTestService({ config: { auth: 'required', trustedIssuersFile: file, bodyLimitBytes: 256 * 1024 }, logger });

  const hookPath = `/cds-services/${SERVICE}`;
  const templates = server.registry.get(SERVICE)!.definition.prefetch!;
  const fhirAuthorization = { access_token: ACCESS_TOKEN, token_type: 'Bearer' as const, expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds' };
  for (const [i, f] of fixtures.entries()) {
    const pid = f.expected.patient;
    const prefetch = buildPrefetch(templates, fixtureResources(f, now), pid);
    const res = await send(hookPath, { body: hookRequest(pid, { prefetch, fhirServer: fhir.baseUrl, fhirAuthorization }) });
    if (res.status !== 200) throw new Error(`${f.slug}: ${res.status}`);
    if (i % 4 === 0) {
      // No prefetch: the service fetches from the FHIR server with the access token.
      expect((await send(hookPath, { body: hookRequest(pid, { fhirServer: fhir.baseUrl, fhirAuthorization }) })).status).toBe(200);
    }
    const card = (res.body as CdsResponse).cards[0];
    if (card?.uuid && i % 3 === 0) {
      const feedback = { feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { userComment: `not for ${pid}` }, outcomeTimestamp: new Date().toISOString() }] };
      await send(`${hookPath}/feedback`, { body: feedback });
    }
  }

  // Failure paths, each carrying a patient id and, where it fits, the access token.
  const pid = fixtures[0]!.expected.patient;
  const body = hookRequest(pid, { fhirServer: fhir.baseUrl, fhirAuthorization });
  const url = `${server.url}${hookPath}`;
  const stranger = await makeIssuer('https://stranger.example.test');
  const refused = [
    null,
    'garbage-token',
    unsignedToken(issuer.iss, url),
    await hmacToken(issuer.iss, url, new TextEncoder().encode('secret-secret-secret-secret-secret')),
    await issuer.sign({ aud: `${server.url}/cds-services` }),
    await issuer.sign({ aud: url }, { iat: -900, exp: -600 }),
    await issuer.sign({ aud: url, sub: `Patient/${pid}`, tenant: pid }, { exp: 86_400 }),
    await stranger.sign({ aud: url, sub: pid }),
    await (await makeIssuer(issuer.iss, 'ES384', issuer.kid)).sign({ aud: url }),
  ];
  for (const token of refused) expect((await send(hookPath, { body, token })).status).toBe(401);
  const once = await issuer.sign({ aud: url });
  await send(hookPath, { body, token: once });
  expect((await send(hookPath, { body, token: once })).status).toBe(401); // replay
  expect((await send(hookPath, { body: { ...body, hook: 'order-sign' } })).status).toBe(400);
  expect((await send(hookPath, { body: { ...body, context: { userId: `Patient/${pid}!`, patientId: `${pid}/../x` } } })).status).toBe(400);
  expect((await send(hookPath, { body: `{"hook":"patient-view","context":{"patientId":"${pid}"` })).status).toBe(400);
  expect((await send(`/cds-services/${pid}`, { body })).status).toBe(404);
  expect((await send(`/fhir/Patient/${pid}`, { token: null })).status).toBe(404);
  expect((await send(`/fhir/Patient/${pid}?access_token=${ACCESS_TOKEN}`, { token: null })).status).toBe(404);
  expect((await send(hookPath, { body: hookRequest(pid, { fhirServer: 'http://192.0.2.1/fhir', fhirAuthorization }) })).status).toBe(412);
  const invalid: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: [{ resource: { resourceType: 'Observation', id: pid, status: 'final', code: { text: pid }, subject: { reference: `Patient/${pid}` }, valueQuantity: { value: pid } } as unknown as FhirResource }],
  };
  expect((await send(hookPath, { body: hookRequest(pid, { prefetch: { ...buildPrefetch(templates, fixtureResources(fixtures[0]!, now), pid), observations: invalid } }) })).status).toBe(200);
  expect((await send(hookPath, { body: { ...body, extension: { 'org.example.pad': pid.repeat(20_000) } } })).status).toBe(413);
  expect((await send(`${hookPath}/feedback`, { body: { feedback: [{ card: pid, outcome: 'accepted' }] } })).status).toBe(400);
}, 180_000);

afterAll(async () => {
  await server?.close();
  await fhir?.stop();
});

function patientIdentifiers(): string[] {
  const out = new Set<string>();
  for (const f of fixtures) {
    out.add(f.expected.patient);
    for (const r of fixtureResources(f, now)) {
      if (r.resourceType !== 'Patient') continue;
      const p = r as Patient;
      for (const id of p.identifier ?? []) if (id.value) out.add(id.value);
      for (const n of p.name ?? []) {
        if (n.family && n.family.length > 3) out.add(n.family);
        if (n.text) out.add(n.text);
      }
    }
  }
  return [...out];
}

describe('log leak test: a full run logs no token, JWT or patient identifier', () => {
  it('covered every path: all fixtures, FHIR fetches with the access token, feedback, 400/401/404/412/413', () => {
    expect(fixtures.length).toBeGreaterThan(100);
    for (const s of [200, 400, 401, 404, 412, 413]) expect(statuses.get(s) ?? 0).toBeGreaterThan(0);
    expect(fhir.requests.some((r) => r.authorization === `Bearer ${ACCESS_TOKEN}`)).toBe(true);
    expect(lines.length).toBeGreaterThan(fixtures.length * 2);
    // The log said what happened: refusals with reasons, the refused fhirServer, the invalid resources.
    const text = lines.join('\n');
    expect(text).toContain('authentication failed');
    expect(text).toContain('fhirServer not allowed');
    expect(text).toContain('not valid FHIR R4');
  });

  it('every line is structured JSON with level, time and message, and no key twice in an object', () => {
    for (const l of lines) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(typeof o.level).toBe('number');
      expect(typeof o.time).toBe('string');
      expect(typeof o.msg).toBe('string');
      // JSON.parse keeps the last of two values; log pipelines keep either, or reject the line.
      expect({ line: o.msg, repeated: repeatedKeys(l) }).toEqual({ line: o.msg, repeated: [] });
    }
  });

  it('no access token, no JWT (nor any of its parts) and no Authorization header value appears', () => {
    const text = lines.join('\n');
    expect(text).not.toContain(ACCESS_TOKEN);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // base64url of '{"' — the start of any JWT segment
    expect(jwts.length).toBeGreaterThan(fixtures.length);
    for (const jwt of jwts) for (const part of jwt.split('.')) if (part.length >= 16) expect(text).not.toContain(part);
    expect(text).not.toMatch(/bearer /i);
  });

  it('no patient identifier appears: ids, identifiers, names — in values, keys or paths', () => {
    const text = lines.join('\n');
    const ids = patientIdentifiers();
    expect(ids.length).toBeGreaterThan(100);
    const found = ids.filter((id) => text.includes(id));
    expect(found).toEqual([]);
  });

  it('patient-related fields, where there are any, hold a salted hash', () => {
    const offending: string[] = [];
    const walk = (v: unknown, key = ''): void => {
      if (Array.isArray(v)) return v.forEach((x) => walk(x, key));
      if (v && typeof v === 'object') return Object.entries(v).forEach(([k, x]) => walk(x, k));
      if (/patient/i.test(key) && typeof v === 'string' && !/^[0-9a-f]{16,64}$/.test(v)) offending.push(`${key}=${v}`);
    };
    for (const l of lines) walk(JSON.parse(l));
    expect(offending).toEqual([]);
  });
});

/** Keys that occur twice in one object of a JSON text (`a.b` paths are not needed: the key names suffice to find them). */
function repeatedKeys(json: string): string[] {
  const repeated: string[] = [];
  const objects: (Set<string> | null)[] = []; // null: an array
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{') objects.push(new Set());
    else if (c === '[') objects.push(null);
    else if (c === '}' || c === ']') objects.pop();
    else if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const top = objects[objects.length - 1];
      let k = j + 1;
      while (json[k] === ' ') k++;
      if (top && json[k] === ':') {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.has(key)) repeated.push(key);
        top.add(key);
      }
      i = j;
    }
  }
  return repeated;
}
