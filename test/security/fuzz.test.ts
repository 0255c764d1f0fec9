/**
 * Property-based fuzzing (fast-check) of what a caller controls: the request body, the prefetch content, the
 * raw bytes and headers, and the JWT. Thousands of generated and mutated requests go to a real service over
 * HTTP; for every one of them the service must
 *   - answer with a status from the expected set — never 500 (or any 5xx);
 *   - answer JSON: a CDS Hooks response that passes the response schema (200), or an OperationOutcome with
 *     a usable message and no stack trace or internal detail (anything else);
 *   - keep serving: every 25th case a known-good request is sent and must give the same findings as before
 *     the fuzzing started.
 * A process crash or an unhandled rejection fails the suite. FUZZ_SEED reproduces a run; FUZZ_SCALE multiplies
 * the case counts (CI runs the default: 5,500 body/prefetch/raw cases + 1,000 token cases).
 */
import type { Bundle, FhirResource } from 'fhir/r4';
import fc from 'fast-check';
import { Writable } from 'node:stream';
import { signDevToken } from '../../src/auth';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { screenResources } from '../../src/hardening/fhir-r4';
import { createLogger } from '../../src/logger';
import type { RunningServer } from '../../src/server';
import { assertOperationOutcome, assertValidResponse, findingCodes, hookRequest } from '../support/cds-client';
import { startTestService } from '../support/service';

const SERVICE = 'il6-inflammation';
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
const RUNS = { mutated: Math.round(2500 * SCALE), generated: Math.round(1500 * SCALE), raw: Math.round(1500 * SCALE), tokens: Math.round(1000 * SCALE) };
const ALLOWED = new Set([200, 400, 401, 404, 405, 412, 413, 415, 431]);

const FIXTURES = ['combo-persistent-rising-trend', 'hscrp-c-both-high', 'interference-ended-89-days', 'empty-record'];
const fixtures = listFixtures().filter((f) => FIXTURES.includes(f.slug));

let open: RunningServer; // AUTH=disabled: body and prefetch fuzzing
let secured: RunningServer; // AUTH=required: token fuzzing
let bases: { patient: string; body: Record<string, unknown>; findings: string[] }[];
let cases = 0;
const generated = { valid: 0, invalid: 0 };
const statuses = new Map<number, number>();
const started = Date.now();

// Error-level log lines of both services: a 500 is reported with the internal error behind it.
const errors: string[] = [];
const errorLog = () => createLogger('error', new Writable({ write: (chunk: Buffer, _e, cb) => (errors.push(chunk.toString()), cb()) }));

beforeAll(async () => {
  open = await startTestService({ config: { bodyLimitBytes: 512 * 1024 }, logger: errorLog() });
  secured = await startTestService({ config: { auth: 'required', bodyLimitBytes: 512 * 1024 }, logger: errorLog() });
  const templates = open.registry.get(SERVICE)!.definition.prefetch!;
  bases = [];
  for (const f of fixtures) {
    const patient = f.expected.patient;
    const body = { ...hookRequest(patient, { prefetch: buildPrefetch(templates, fixtureResources(f), patient) }) } as unknown as Record<string, unknown>;
    const res = await post(open, body);
    if (res.status !== 200) throw new Error(`baseline for ${f.slug} answered ${res.status}`);
    bases.push({ patient, body, findings: findingCodes(res.json as CdsResponse) });
  }
});

afterAll(async () => {
  await open?.close();
  await secured?.close();
  // The numbers behind "≥ 5,000 cases, zero 500s" end up in the test output.
  console.log(`fuzz: ${cases} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
});

interface Reply {
  status: number;
  text: string;
  json: unknown;
}

async function post(server: RunningServer, body: unknown, opts: { raw?: boolean; headers?: Record<string, string>; path?: string } = {}): Promise<Reply> {
  const res = await fetch(`${server.url}${opts.path ?? `/cds-services/${SERVICE}`}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: opts.raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** The invariants every answer must meet. */
function check(reply: Reply, what: string): void {
  cases++;
  statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
  if (!ALLOWED.has(reply.status)) throw new Error(`${what}: HTTP ${reply.status}: ${reply.text.slice(0, 300)}\nservice log: ${errors.slice(-1)[0]?.slice(0, 2000) ?? '(none)'}`);
  if (reply.json === undefined) throw new Error(`${what}: HTTP ${reply.status} body is not JSON: ${reply.text.slice(0, 200)}`);
  if (/\bat [^ ]+ \(|\.ts:\d+|\.js:\d+|node_modules|TypeError|RangeError|SyntaxError: Unexpected/.test(reply.text) && reply.status !== 200) {
    throw new Error(`${what}: HTTP ${reply.status} leaks internals: ${reply.text.slice(0, 300)}`);
  }
  if (reply.status === 200) assertValidResponse(reply.json);
  else assertOperationOutcome(reply.json, reply.status);
}

/** Every 25th case: a known-good request must still give the findings it gave before fuzzing. */
async function stillServing(): Promise<void> {
  if (cases % 25 !== 0) return;
  const base = bases[(cases / 25) % bases.length]!;
  const res = await post(open, { ...base.body, hookInstance: crypto.randomUUID() });
  if (res.status !== 200) throw new Error(`known-good request answered ${res.status} after ${cases} fuzz cases: ${res.text.slice(0, 200)}`);
  expect(findingCodes(res.json as CdsResponse)).toEqual(base.findings);
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------------

const specialStrings = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\uFFFF',
  '\uD800', // lone surrogate
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '**bold** [link](javascript:alert(1))',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  '%00',
  '${7*7}',
  '{{context.patientId}}',
  'Patient/../../x',
  '2024-02-30',
  '2024-13-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '-271821-04-20T00:00:00Z',
  '2026',
  'NaN',
  'Infinity',
  '1e309',
  'x'.repeat(5_000),
);
const specialNumbers = fc.constantFrom(0, -0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, -(2 ** 31), 7.0, 7.000000000001, 1.5, 3, 1e21);
// constantFrom hands out the same instance every time: a mutation that writes into an inserted `[]` or `{}`
// would change the constant for every later case (and once made `[null]` contain itself). Each case gets a copy.
const specialValues = fc.oneof(
  specialStrings,
  specialNumbers,
  fc.constantFrom(null, true, false, [], {}, [null], { resourceType: 'Bundle' }, { resourceType: 'OperationOutcome', issue: [] }).map((v) => structuredClone(v)),
);
const anyValue = fc.oneof({ weight: 3, arbitrary: specialValues }, { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) });

type Op = { path: number[]; kind: 'delete' | 'replace' | 'duplicate' | 'retype' | 'rename'; value: unknown; times: number };
const op: fc.Arbitrary<Op> = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 9 }),
  kind: fc.constantFrom('delete', 'replace', 'replace', 'duplicate', 'retype', 'rename'),
  value: anyValue,
  times: fc.integer({ min: 2, max: 300 }),
});

/** Applies one mutation at a pseudo-random location chosen by `path` (indexes modulo the keys at each level). */
function mutate(root: unknown, o: Op): unknown {
  if (root === null || typeof root !== 'object') return o.value;
  let parent: Record<string, unknown> | unknown[] = root as Record<string, unknown>;
  let key: string | number | undefined;
  for (const step of o.path) {
    const node: unknown = key === undefined ? parent : (parent as Record<string, unknown>)[key as string];
    if (node === null || typeof node !== 'object') break;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    if (key !== undefined) parent = node as Record<string, unknown>;
    key = keys[step % keys.length];
  }
  if (key === undefined) return root;
  const p = parent as Record<string | number, unknown>;
  const current = p[key];
  switch (o.kind) {
    case 'delete':
      if (Array.isArray(p)) p.splice(key as number, 1);
      else delete p[key];
      break;
    case 'replace':
      // A copy: the same op value can be applied again when fast-check replays or shrinks a case.
      p[key] = structuredClone(o.value);
      break;
    case 'duplicate':
      p[key] = Array.isArray(current) ? Array.from({ length: Math.min(o.times, 200) }, (_, i) => current[i % Math.max(1, current.length)]) : Array(Math.min(o.times, 50)).fill(current);
      break;
    case 'retype':
      p[key] = typeof current === 'number' ? String(current) : typeof current === 'string' && current !== '' && !Number.isNaN(Number(current)) ? Number(current) : typeof current === 'object' ? JSON.stringify(current) : [current];
      break;
    case 'rename':
      if (!Array.isArray(p)) {
        delete p[key];
        p[`${String(key)}_x`] = current;
      }
      break;
  }
  return root;
}

const mutatedRequest = fc.record({ base: fc.nat(), ops: fc.array(op, { minLength: 1, maxLength: 5 }) }).map(({ base, ops }) => {
  let body: unknown = structuredClone(bases[base % bases.length]!.body);
  for (const o of ops) body = mutate(body, o);
  return body;
});

// Generated FHIR-ish prefetch: resources shaped like what the rules read, with values from valid to absurd.
const loinc = fc.constantFrom('26881-3', '30522-7', '1988-5', '8310-5', '4548-4', '55411-3', '93832-4', '39156-5', '8280-0', '49919-4', '4655-7', 'bogus');
const ucum = fc.constantFrom('pg/mL', 'ng/L', 'ng/mL', 'mg/L', 'mg/dL', 'Cel', '[degF]', '%', 'h', 'min', 'u[IU]/mL', 'kg/m2', 'cm', 'IU/mL', 'furlong');
// Mostly valid FHIR strings (the rules must cope with odd but valid data), sometimes not.
const text = fc.oneof({ weight: 9, arbitrary: fc.string({ minLength: 1, maxLength: 20 }) }, { weight: 1, arbitrary: specialStrings });
const instant = fc.oneof(
  { weight: 4, arbitrary: fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 6, arbitrary: fc.integer({ min: -30, max: 4000 }).map((days) => new Date(Date.now() - days * 86_400_000).toISOString()) },
  { weight: 1, arbitrary: specialStrings },
);
const quantityValue = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), specialNumbers, fc.integer({ min: -5, max: 500 }), fc.float({ min: 0, max: 20, noNaN: true }));
const observation = (patient: string) =>
  fc.record(
    {
      resourceType: fc.constant('Observation'),
      id: fc.oneof({ weight: 9, arbitrary: fc.uuid() }, { weight: 1, arbitrary: specialStrings }),
      status: fc.constantFrom('final', 'amended', 'corrected', 'preliminary', 'cancelled', 'entered-in-error', 'registered', 'unknown', 'bogus'),
      code: fc.record({ coding: fc.array(fc.record({ system: fc.constantFrom('http://loinc.org', 'http://snomed.info/sct', 'urn:x'), code: loinc, display: text }, { requiredKeys: ['system', 'code'] }), { minLength: 1, maxLength: 3 }), text }, { requiredKeys: ['coding'] }),
      subject: fc.constantFrom({ reference: `Patient/${patient}` }, { reference: 'Patient/someone-else' }, { reference: '' }, {}),
      effectiveDateTime: instant,
      effectivePeriod: fc.record({ start: instant, end: instant }, { requiredKeys: [] }),
      issued: instant,
      valueQuantity: fc.record({ value: quantityValue, unit: ucum, system: fc.constantFrom('http://unitsofmeasure.org', 'urn:other'), code: ucum, comparator: fc.constantFrom('<', '<=', '>=', '>', 'ad', '~') }, { requiredKeys: [] }),
      valueString: fc.oneof(text, fc.constantFrom('<1.5', '> 7.0 pg/mL', '5,2', 'n/a', '<3.0')),
      referenceRange: fc.array(fc.record({ low: fc.record({ value: quantityValue, unit: ucum }), high: fc.record({ value: quantityValue, unit: ucum }) }, { requiredKeys: [] }), { maxLength: 2 }),
      extension: fc.array(fc.record({ url: fc.webUrl(), valueString: text }), { maxLength: 2 }),
    },
    { requiredKeys: ['resourceType', 'status', 'code', 'subject'] },
  );
const condition = (patient: string) =>
  fc.record(
    {
      resourceType: fc.constant('Condition'),
      id: fc.uuid(),
      subject: fc.constant({ reference: `Patient/${patient}` }),
      code: fc.record({ coding: fc.array(fc.record({ system: fc.constantFrom('http://snomed.info/sct', 'http://hl7.org/fhir/sid/icd-10-cm'), code: fc.constantFrom('386661006', '233604007', 'J18.9', 'S00', '840539006', 'x') }), { maxLength: 2 }) }),
      clinicalStatus: fc.constantFrom({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, { coding: [{ code: 'resolved' }] }, {}),
      verificationStatus: fc.constantFrom({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'refuted' }] }, {}),
      onsetDateTime: instant,
      abatementDateTime: instant,
      recordedDate: instant,
    },
    { requiredKeys: ['resourceType', 'subject'] },
  );
const medication = (patient: string) =>
  fc.record(
    {
      resourceType: fc.constantFrom('MedicationStatement', 'MedicationRequest'),
      id: fc.uuid(),
      status: fc.constantFrom('active', 'completed', 'stopped', 'entered-in-error', 'intended', 'bogus'),
      intent: fc.constant('order'),
      subject: fc.constant({ reference: `Patient/${patient}` }),
      medicationCodeableConcept: fc.record({ coding: fc.array(fc.record({ system: fc.constantFrom('http://www.nlm.nih.gov/research/umls/rxnorm', 'urn:x'), code: fc.constantFrom('612865', '1', '') }), { maxLength: 2 }), text: fc.constantFrom('tocilizumab', 'sarilumab', 'aspirin', '') }, { requiredKeys: [] }),
      effectivePeriod: fc.record({ start: instant, end: instant }, { requiredKeys: [] }),
      authoredOn: instant,
    },
    { requiredKeys: ['resourceType', 'subject'] },
  );

const generatedRequest = fc
  .record({
    base: fc.nat(),
    n: fc.record({ obs: fc.integer({ min: 0, max: 15 }), cond: fc.integer({ min: 0, max: 5 }), med: fc.integer({ min: 0, max: 5 }) }),
  })
  .chain(({ base, n }) => {
    const b = bases[base % bases.length]!;
    return fc
      .record({
        obs: fc.array(observation(b.patient), { minLength: n.obs, maxLength: n.obs }),
        cond: fc.array(condition(b.patient), { minLength: n.cond, maxLength: n.cond }),
        med: fc.array(medication(b.patient), { minLength: n.med, maxLength: n.med }),
        nullKeys: fc.subarray(['patient', 'conditions', 'procedures', 'encounters', 'medicationRequests']),
        keepOriginal: fc.boolean(),
      })
      .map(({ obs, cond, med, nullKeys, keepOriginal }) => {
        const body = structuredClone(b.body) as { prefetch: Record<string, Bundle | FhirResource | null> };
        const bundle = (resources: unknown[], key: string): Bundle => {
          const had = keepOriginal ? (((body.prefetch[key] as Bundle | null)?.entry ?? []) as Bundle['entry'] & object) : [];
          return { resourceType: 'Bundle', type: 'searchset', entry: [...had, ...resources.map((resource) => ({ resource: resource as FhirResource }))] };
        };
        body.prefetch.observations = bundle(obs, 'observations');
        body.prefetch.conditions = bundle(cond, 'conditions');
        body.prefetch.medicationStatements = bundle(med.filter((m) => m.resourceType === 'MedicationStatement'), 'medicationStatements');
        body.prefetch.medicationRequests = bundle(med.filter((m) => m.resourceType === 'MedicationRequest'), 'medicationRequests');
        for (const k of nullKeys) body.prefetch[k] = null;
        return body;
      });
  });

describe('fuzzing: the service never answers 500, never leaks internals, and keeps serving', () => {
  it(`mutated requests (${RUNS.mutated} cases): deleted, replaced, duplicated, retyped and renamed fields anywhere in a valid request`, async () => {
    await fc.assert(
      fc.asyncProperty(mutatedRequest, async (body) => {
        check(await post(open, body), 'mutated request');
        await stillServing();
      }),
      { numRuns: RUNS.mutated, seed: SEED, endOnFailure: true },
    );
  }, 120_000);

  it(`generated prefetch (${RUNS.generated} cases): Observations, Conditions and medications from plausible to absurd, valid FHIR or not`, async () => {
    await fc.assert(
      fc.asyncProperty(generatedRequest, async (body) => {
        const entries = Object.values(body.prefetch).flatMap((v) => (v?.resourceType === 'Bundle' ? ((v as Bundle).entry ?? []).map((e) => e.resource!) : v ? [v] : []));
        const screened = screenResources(entries as FhirResource[]);
        generated.valid += screened.valid.length;
        generated.invalid += screened.invalid.length;
        check(await post(open, body), 'generated prefetch');
        await stillServing();
      }),
      { numRuns: RUNS.generated, seed: SEED, endOnFailure: true },
    );
    // Both kinds must be well represented: valid-but-odd FHIR exercises the rules, invalid FHIR the screening.
    console.log(`generated prefetch resources: ${generated.valid} valid FHIR R4, ${generated.invalid} invalid`);
    expect(generated.valid).toBeGreaterThan(RUNS.generated);
    expect(generated.invalid).toBeGreaterThan(RUNS.generated);
  }, 120_000);

  it(`raw bytes and headers (${RUNS.raw} cases): truncated, corrupted, non-JSON, odd content types and paths`, async () => {
    const raw = fc
      .record({
        base: fc.nat(),
        cut: fc.nat(),
        flips: fc.array(fc.record({ at: fc.nat(), ch: fc.constantFrom('{', '}', '[', ']', '"', '\\', ',', ':', '\u0000', 'é', '\uD800', ' ', 'x') }), { maxLength: 4 }),
        truncate: fc.boolean(),
        contentType: fc.constantFrom('application/json', 'application/fhir+json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', ''),
        path: fc.constantFrom(`/cds-services/${SERVICE}`, `/cds-services/${SERVICE}/`, '/cds-services/nope', '/cds-services/..%2f..%2fetc', `/cds-services/${SERVICE}/feedback`, '/cds-services/%00', `/cds-services/${SERVICE}?x=1`),
        junk: fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 200 })),
      })
      .map(({ base, cut, flips, truncate, contentType, path, junk }) => {
        let text = JSON.stringify(bases[base % bases.length]!.body);
        if (truncate) text = text.slice(0, cut % text.length);
        for (const f of flips) {
          const i = f.at % Math.max(1, text.length);
          text = text.slice(0, i) + f.ch + text.slice(i + 1);
        }
        return { text: junk && cut % 3 === 0 ? junk : text, contentType, path };
      });
    await fc.assert(
      fc.asyncProperty(raw, async ({ text, contentType, path }) => {
        check(await post(open, text, { raw: true, headers: contentType ? { 'content-type': contentType } : {}, path }), 'raw body');
        await stillServing();
      }),
      { numRuns: RUNS.raw, seed: SEED, endOnFailure: true },
    );
  }, 120_000);

  it(`tokens (${RUNS.tokens} cases): mutated, truncated, re-encoded and forged JWTs → 401, never 500; valid tokens keep working`, async () => {
    const url = `${secured.url}/cds-services/${SERVICE}`;
    const body = bases[0]!.body;
    const tokenCase = fc.record({
      kind: fc.constantFrom('flip', 'truncate', 'header', 'payload', 'garbage', 'scheme'),
      at: fc.nat(),
      ch: fc.constantFrom('A', '-', '_', '.', '=', '+', '/', ' ', '%', 'é'),
      value: anyValue,
      claim: fc.constantFrom('alg', 'typ', 'kid', 'jku', 'crit', 'b64', 'iss', 'aud', 'exp', 'iat', 'jti', 'tenant', 'nbf'),
      garbage: fc.string({ unit: 'binary', maxLength: 300 }),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(tokenCase, async (c) => {
        const good = await signDevToken({ aud: url });
        const [h, p, s] = good.split('.') as [string, string, string];
        let token: string;
        let header = `Bearer ${good}`;
        const reencode = (part: string) => {
          const obj = JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;
          obj[c.claim] = c.value;
          return Buffer.from(JSON.stringify(obj)).toString('base64url');
        };
        switch (c.kind) {
          case 'flip':
            token = good.slice(0, c.at % good.length) + c.ch + good.slice((c.at % good.length) + 1);
            break;
          case 'truncate':
            token = good.slice(0, c.at % good.length);
            break;
          case 'header':
            token = `${reencode(h)}.${p}.${s}`;
            break;
          case 'payload':
            token = `${h}.${reencode(p)}.${s}`;
            break;
          case 'garbage':
            token = c.garbage;
            break;
          default:
            token = good;
            header = [`Basic ${good}`, `Bearer  ${good} x`, `Bearer`, `${good}`, `bearer ${good}`][c.at % 5]!;
        }
        if (c.kind !== 'scheme') header = `Bearer ${token}`;
        let reply: Reply;
        try {
          reply = await post(secured, body, { headers: { authorization: header } });
        } catch (err) {
          // fetch itself refuses header values it cannot send (control or non-Latin-1 characters): nothing reached
          // the service. (Its TypeError comes from another realm than jest's, hence the name check.)
          if ((err as Error).name === 'TypeError') return;
          throw err;
        }
        check(reply, 'token');
        // Only an untouched token (or a change jose normalises away) may pass. A forged token too large for an
        // HTTP header is refused by the parser: 431 with an OperationOutcome (checked above), never 500.
        if (reply.status !== 401 && reply.status !== 200 && !(reply.status === 431 && header.length > 8_000)) throw new Error(`token case answered ${reply.status}`);
        if (++n % 50 === 0) {
          const ok = await post(secured, body, { headers: { authorization: `Bearer ${await signDevToken({ aud: url })}` } });
          expect(ok.status).toBe(200);
        }
      }),
      { numRuns: RUNS.tokens, seed: SEED, endOnFailure: true },
    );
  }, 120_000);

  it('after all of it the service still answers every known-good request correctly', async () => {
    for (const base of bases) {
      const res = await post(open, { ...base.body, hookInstance: crypto.randomUUID() });
      expect(res.status).toBe(200);
      expect(findingCodes(res.json as CdsResponse)).toEqual(base.findings);
    }
    expect(statuses.get(500) ?? 0).toBe(0);
    expect(cases).toBeGreaterThanOrEqual(5_000 * Math.min(1, SCALE));
  });
});
