/**
 * A small CDS Hooks 2.0 patient-view service on plain `node:http`, written from the spec independently of the
 * project's service, with one switch per deliberate fault. Without faults it passes the conformance suite; each
 * fault breaks one rule, and the suite must report it as FAIL with the right item number.
 *
 * It does what a real service must: JWT client authentication (asymmetric algorithms only, typ/kid, trusted
 * issuer, signature, exact `aud`, exp/iat/jti, replay, a `jku` is never fetched), CORS, discovery with prefetch
 * templates, prefetch semantics (null = no data, an OperationOutcome = missing), fetching missing data from an
 * allowlisted `fhirServer` with the access token, 412, 400s with OperationOutcomes, cards with suggestions,
 * override reasons and links, and feedback.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, importJWK, type JWK } from 'jose';

export const FAULTS = {
  /** A card summary of exactly 140 characters (→ 25). */
  'summary-140': 'a card summary of 140 characters',
  /** Suggestions without `selectionBehavior` (→ 30). */
  'no-selection-behavior': 'selectionBehavior missing on a card with suggestions',
  /** 500 (plain text) instead of 412 when prefetch is missing and cannot be fetched (→ 22). */
  'missing-prefetch-500': '500 on a missing prefetch instead of 412',
  /** The JWT `aud` is not checked (→ 49). */
  'aud-unchecked': 'aud not checked',
  /** An absolute link with `appContext` (→ 37). */
  'appcontext-on-absolute': 'appContext on an absolute link',
  /** `null` and empty values: discovery `usageRequirements: null`, card `links: []` (→ 6, 39). */
  'null-values': 'null and empty values in discovery and cards',
  /** No CORS headers, preflight refused (→ 11, 12). */
  'no-cors': 'no CORS',
  /** A request with another hook is answered like a patient-view one (→ 41). */
  'wrong-hook-accepted': 'wrong hook accepted',
  /** Card and suggestion uuids derived from the patient, the same on every call (→ 38). */
  'uuid-reused': 'uuids reused across calls',
  /** `alg: none` tokens are accepted without a signature (→ 46). */
  'alg-none-accepted': 'alg none accepted',
  /** Feedback `accepted` without `acceptedSuggestions`, and unknown outcomes, are accepted (→ 59). */
  'feedback-lenient': 'feedback accepted without acceptedSuggestions',
  /** Any `fhirServer` is contacted, with the access token (→ 55). */
  'fetch-any-fhir-server': 'no SSRF guard on fhirServer',
  /** A `jti` may be used again (→ 52). */
  'replay-accepted': 'replayed jti accepted',
  /** An OperationOutcome prefetch value is taken as the data (→ 20). */
  'outcome-as-data': 'an OperationOutcome prefetch value used as data',
  /** A prefetch key with value null is fetched again from fhirServer (→ 19). */
  'null-refetched': 'null prefetch re-queried',
  /** 401 bodies say why the token was refused (→ 53). */
  'revealing-401': '401 bodies say why',
  /** Expired tokens are accepted (→ 50). */
  'expired-accepted': 'expired JWT accepted',
  /** FHIR requests do not carry the access token (→ 21). */
  'token-not-forwarded': 'access token not sent to fhirServer',
  /** HS256 tokens are accepted unverified (→ 47). */
  'hs256-accepted': 'HS256 JWT accepted',
  /** A template uses a token that is not a CDS Hooks 2.0 prefetch token (→ 8). */
  'bad-prefetch-token': 'a prefetch template with a non-2.0 token',
} as const;

export type Fault = keyof typeof FAULTS;

export interface MiniServiceOptions {
  /** Issuer → its public keys. */
  trusted: Record<string, JWK[]>;
  /** FHIR base URLs this service may contact (exact prefix). */
  fhirServers: string[];
  faults?: Fault[];
}

export interface MiniService {
  url: string;
  discoveryUrl: string;
  /** FHIR URLs contacted, in order. */
  fhirRequests: string[];
  close(): Promise<void>;
}

const SERVICE_ID = 'mini-advisor';
const ASYMMETRIC = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const UNAUTHORIZED = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'Authentication required.' }] };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'invalid',
  ) {
    super(message);
  }
}

function b64json(part: string | undefined): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export async function startMiniService(opts: MiniServiceOptions): Promise<MiniService> {
  const faults = new Set(opts.faults ?? []);
  const seenJti = new Set<string>();
  const fhirRequests: string[] = [];
  let port = 0;

  const templates: Record<string, string> = {
    patient: 'Patient/{{context.patientId}}',
    observations: 'Observation?patient={{context.patientId}}&_sort=-date&_count=100',
  };
  if (faults.has('bad-prefetch-token')) templates.recent = 'Observation?patient={{context.patientId}}&date=ge{{today() - 30 days}}';

  const discovery = {
    services: [
      {
        hook: 'patient-view',
        id: SERVICE_ID,
        title: 'Mini advisor',
        description: 'Counts the patient\'s observations (a conformance-suite test double).',
        prefetch: templates,
        ...(faults.has('null-values') ? { usageRequirements: null } : {}),
      },
    ],
  };

  async function authenticate(req: http.IncomingMessage, path: string): Promise<void> {
    const refuse = (why: string): never => {
      throw new HttpError(401, faults.has('revealing-401') ? `Token refused: ${why}` : 'Authentication required.', 'login');
    };
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return refuse('no bearer token');
    const token = m[1]!;
    const [h, p] = token.split('.');
    const header = b64json(h);
    const claims = b64json(p);
    const alg = String(header.alg);
    const unsignedOk = alg === 'none' && faults.has('alg-none-accepted');
    const hmacOk = alg === 'HS256' && faults.has('hs256-accepted');
    if (!ASYMMETRIC.has(alg) && !unsignedOk && !hmacOk) refuse(`algorithm ${alg} is not allowed`);
    if (header.typ !== 'JWT') refuse('typ is not JWT');
    if (typeof header.kid !== 'string') refuse('no kid');
    if (header.jku !== undefined) refuse('jku not allowlisted'); // never fetched
    const keys = opts.trusted[String(claims.iss)];
    if (!keys) return refuse('issuer not trusted');
    if (!unsignedOk && !hmacOk) {
      const jwk = keys.find((k) => k.kid === header.kid);
      if (!jwk) return refuse('unknown kid');
      try {
        await compactVerify(token, await importJWK(jwk, alg), { algorithms: [alg] });
      } catch {
        refuse('bad signature');
      }
    }
    const expected = [`http://127.0.0.1:${port}${path}`, `http://localhost:${port}${path}`];
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!faults.has('aud-unchecked') && !aud.some((a) => expected.includes(a as string))) refuse('aud mismatch');
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || (claims.exp < now - 30 && !faults.has('expired-accepted'))) refuse('expired');
    if (typeof claims.iat !== 'number') refuse('no iat');
    if (typeof claims.jti !== 'string') refuse('no jti');
    const jti = `${String(claims.iss)} ${claims.jti as string}`;
    if (seenJti.has(jti) && !faults.has('replay-accepted')) refuse('replayed');
    seenJti.add(jti);
  }

  const fhirAllowed = (url: string) => faults.has('fetch-any-fhir-server') || opts.fhirServers.some((b) => url === b || url.startsWith(`${b}/`));

  async function fetchKey(query: string, fhirServer: string, accessToken: string | undefined): Promise<unknown> {
    const url = `${fhirServer}/${query}`;
    fhirRequests.push(url);
    const headers: Record<string, string> = { accept: 'application/fhir+json' };
    if (accessToken && !faults.has('token-not-forwarded')) headers.authorization = `Bearer ${accessToken}`;
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(3000) });
    } catch {
      throw new HttpError(412, `Could not fetch ${query.split('?')[0]} from fhirServer.`, 'processing');
    }
    if (!query.includes('?') && (res.status === 404 || res.status === 410)) return null;
    if (res.status !== 200) throw new HttpError(412, `fhirServer answered HTTP ${res.status} for ${query.split('?')[0]}.`, 'processing');
    return res.json();
  }

  async function invoke(body: unknown): Promise<unknown> {
    if (!isObject(body)) throw new HttpError(400, 'The body must be a JSON object.');
    if (typeof body.hook !== 'string') throw new HttpError(400, 'hook is required.');
    if (body.hook !== 'patient-view' && !faults.has('wrong-hook-accepted')) throw new HttpError(400, `This service answers patient-view, not ${body.hook}.`);
    if (typeof body.hookInstance !== 'string') throw new HttpError(400, 'hookInstance is required.');
    const context = body.context;
    if (!isObject(context)) throw new HttpError(400, 'context is required.');
    if (typeof context.patientId !== 'string' || context.patientId === '') throw new HttpError(400, 'context.patientId is required.');
    if (typeof context.userId !== 'string' || !/^(Practitioner|PractitionerRole|Patient|RelatedPerson)\/[A-Za-z0-9\-.]+$/.test(context.userId)) {
      throw new HttpError(400, 'context.userId must be Practitioner|PractitionerRole|Patient|RelatedPerson/<id>.');
    }
    if (body.fhirAuthorization !== undefined && typeof body.fhirServer !== 'string') throw new HttpError(400, 'fhirAuthorization needs fhirServer.');
    const patientId = context.patientId;
    const prefetch = isObject(body.prefetch) ? body.prefetch : {};
    const auth = isObject(body.fhirAuthorization) ? (body.fhirAuthorization.access_token as string | undefined) : undefined;
    const data: Record<string, unknown> = {};
    const missing: string[] = [];
    for (const [key, template] of Object.entries(templates)) {
      if (template.includes('today()')) continue;
      const v = prefetch[key];
      const isOutcome = isObject(v) && v.resourceType === 'OperationOutcome';
      if (key in prefetch && !(v === null && faults.has('null-refetched')) && (!isOutcome || faults.has('outcome-as-data'))) {
        data[key] = v;
        continue;
      }
      if (typeof body.fhirServer === 'string' && fhirAllowed(body.fhirServer)) {
        data[key] = await fetchKey(template.replace('{{context.patientId}}', encodeURIComponent(patientId)), body.fhirServer.replace(/\/+$/, ''), auth);
      } else missing.push(key);
    }
    if (missing.length > 0) {
      if (faults.has('missing-prefetch-500')) throw new HttpError(500, 'Internal Server Error');
      throw new HttpError(412, `Missing prefetch ${missing.join(', ')}: provide it or give an allowed fhirServer.`, 'processing');
    }
    const obs = isObject(data.observations) && Array.isArray(data.observations.entry) ? data.observations.entry.length : 0;
    if (!isObject(data.patient) && obs === 0) return { cards: [] };
    const uuid = (salt: string) => (faults.has('uuid-reused') ? uuidFrom(`${patientId}:${salt}`) : randomUUID());
    const link: Record<string, unknown> = { label: 'About this advisor', url: 'https://example.org/mini-advisor', type: 'absolute' };
    if (faults.has('appcontext-on-absolute')) link.appContext = '{"patient":"x"}';
    const card: Record<string, unknown> = {
      uuid: uuid('card'),
      summary: faults.has('summary-140') ? `Patient has ${obs} observation(s) on record.`.padEnd(140, '.') : `Patient has ${obs} observation(s) on record.`,
      indicator: 'info',
      detail: `**Observations** on record: ${obs}.`,
      source: { label: 'Mini advisor', url: 'https://example.org/mini-advisor', topic: { system: 'urn:mini-advisor:finding', code: 'observation-count', display: 'Observation count' } },
      suggestions: [
        {
          label: 'Order a follow-up',
          uuid: uuid('suggestion'),
          isRecommended: true,
          actions: [
            {
              type: 'create',
              description: 'Draft a follow-up order',
              resource: { resourceType: 'ServiceRequest', status: 'draft', intent: 'proposal', subject: { reference: `Patient/${patientId}` }, code: { text: 'Follow-up' } },
            },
          ],
        },
      ],
      overrideReasons: [{ system: 'urn:mini-advisor:override', code: 'not-relevant', display: 'Not relevant' }],
      links: faults.has('null-values') ? [] : [link],
    };
    if (!faults.has('no-selection-behavior')) card.selectionBehavior = 'any';
    return { cards: [card] };
  }

  function feedback(body: unknown): unknown {
    const items = isObject(body) ? body.feedback : undefined;
    if (!Array.isArray(items) || items.length === 0) throw new HttpError(400, 'feedback must be a non-empty array.');
    for (const item of items) {
      if (!isObject(item) || typeof item.card !== 'string' || typeof item.outcomeTimestamp !== 'string') throw new HttpError(400, 'Each item needs card and outcomeTimestamp.');
      if (faults.has('feedback-lenient')) continue;
      if (item.outcome !== 'accepted' && item.outcome !== 'overridden') throw new HttpError(400, 'outcome must be accepted or overridden.');
      if (item.outcome === 'accepted' && (!Array.isArray(item.acceptedSuggestions) || item.acceptedSuggestions.length === 0)) throw new HttpError(400, 'accepted feedback needs acceptedSuggestions.');
    }
    return { stored: items.length };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const cors = !faults.has('no-cors');
    const send = (status: number, body: unknown, type = 'application/json') => {
      const headers: Record<string, string> = { 'content-type': type };
      if (cors) headers['access-control-allow-origin'] = '*';
      res.writeHead(status, headers).end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      if (!cors) return send(405, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'OPTIONS is not supported.' }] });
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, POST, OPTIONS', 'access-control-allow-headers': 'Authorization, Content-Type' }).end();
      return;
    }
    try {
      if (!path.startsWith('/cds-services')) throw new HttpError(404, `Nothing at ${path}.`, 'not-found');
      await authenticate(req, path);
      if (path === '/cds-services' && req.method === 'GET') return send(200, discovery);
      const m = /^\/cds-services\/([^/]+)(\/feedback)?$/.exec(path);
      if (!m || m[1] !== SERVICE_ID) throw new HttpError(404, `No CDS service at ${path}.`, 'not-found');
      if (req.method !== 'POST') throw new HttpError(405, `${req.method} is not supported here.`, 'not-supported');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        throw new HttpError(400, 'The body is not JSON.');
      }
      return send(200, m[2] ? feedback(body) : await invoke(body));
    } catch (err) {
      if (err instanceof HttpError && err.status === 500) return send(500, 'Internal Server Error', 'text/plain');
      if (err instanceof HttpError) {
        return send(err.status, err.status === 401 && err.message === 'Authentication required.' ? UNAUTHORIZED : { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: err.code, diagnostics: err.message }] });
      }
      return send(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'Internal error.' }] });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    discoveryUrl: `${url}/cds-services`,
    fhirRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
