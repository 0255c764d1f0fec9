/**
 * Client authentication over HTTP (checklist items 45–54): a real service with AUTH=required and a
 * TRUSTED_ISSUERS_FILE naming test issuers — two with static JWKS files (ES384, RS384), one with an
 * allowlisted `jku` served by a real JWKS server on loopback — and tokens signed per test.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { unauthorized } from '../../src/outcomes';
import type { RunningServer } from '../../src/server';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { hookRequest } from '../support/cds-client';
import { startTestService } from '../support/service';
import { call, hmacToken, makeIssuer, startJwksServer, tempDir, unsignedToken, writeIssuersFile, type JwksServer, type TestIssuer } from './support/issuers';

const SERVICE = 'il6-inflammation';
const fixture = listFixtures().find((f) => f.slug === 'combo-persistent-rising-trend')!;
const PATIENT = fixture.expected.patient;
const resources = fixtureResources(fixture);

let es: TestIssuer; // ES384, static JWKS file
let rs: TestIssuer; // RS384, static JWKS file
let remote: TestIssuer; // ES384, keys at an allowlisted jku
let tenanted: TestIssuer; // static, tenant allowlist
let stranger: TestIssuer; // not in the issuers file
let jwks: JwksServer;
let server: RunningServer;
const logLines: string[] = [];
let dir: string;

beforeAll(async () => {
  [es, rs, remote, tenanted, stranger] = await Promise.all([
    makeIssuer('https://ehr-es.example.test', 'ES384'),
    makeIssuer('https://ehr-rs.example.test', 'RS384'),
    makeIssuer('https://ehr-remote.example.test', 'ES384'),
    makeIssuer('https://ehr-tenant.example.test', 'ES256'),
    makeIssuer('https://stranger.example.test', 'ES384'),
  ]);
  jwks = await startJwksServer();
  jwks.setJwks(remote.jwks);
  jwks.setJwks(stranger.jwks, '/stranger.json');
  dir = tempDir();
  const file = writeIssuersFile(dir, [
    { iss: es.iss, jwks: es.jwks },
    { iss: rs.iss, jwks: rs.jwks },
    { iss: remote.iss, jku: `${jwks.url}/jwks.json` },
    { iss: tenanted.iss, jwks: tenanted.jwks, tenants: ['org-1'] },
  ]);
  const logger = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, cb) => (logLines.push(chunk.toString()), cb()) }));
  server = await startTestService({ config: { auth: 'required', trustedIssuersFile: file, jwksRefreshMinSeconds: 0 }, logger });
});

afterAll(async () => {
  await server?.close();
  await jwks?.close();
});

const discovery = () => `${server.url}/cds-services`;
const serviceUrl = () => `${server.url}/cds-services/${SERVICE}`;
const feedbackUrl = () => `${server.url}/cds-services/${SERVICE}/feedback`;
const request = () => hookRequest(PATIENT, { prefetch: buildPrefetch(server.registry.get(SERVICE)!.definition.prefetch!, resources, PATIENT) });
const UNAUTHORIZED_BODY = JSON.stringify(unauthorized().outcome);

async function expect401(url: string, token: string | undefined, body?: unknown): Promise<void> {
  const res = await call(url, { token, body });
  expect(res.status).toBe(401);
  expect(res.text).toBe(UNAUTHORIZED_BODY);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
}

describe('client authentication (AUTH=required)', () => {
  it('item 45: no Authorization header → 401 on discovery, service call and feedback (and a non-Bearer scheme too)', async () => {
    await expect401(discovery(), undefined);
    await expect401(serviceUrl(), undefined, request());
    await expect401(feedbackUrl(), undefined, { feedback: [] });
    const basic = await call(discovery(), { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    const empty = await call(discovery(), { headers: { authorization: 'Bearer ' } });
    expect(empty.status).toBe(401);
  });

  it('item 11: a CORS preflight passes without a token and allows Authorization and Content-Type', async () => {
    for (const url of [discovery(), serviceUrl(), feedbackUrl()]) {
      const res = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://sandbox.cds-hooks.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
      expect(res.headers.get('access-control-allow-headers')).toMatch(/Content-Type/);
    }
  });

  it('item 46: an unsigned JWT (alg none) → 401, even naming a trusted issuer', async () => {
    await expect401(discovery(), unsignedToken(es.iss, discovery()));
    await expect401(serviceUrl(), unsignedToken(es.iss, serviceUrl()), request());
  });

  it('item 47: an HS256 JWT → 401, including one keyed with the issuer\'s public key (algorithm confusion)', async () => {
    await expect401(discovery(), await hmacToken(es.iss, discovery(), new TextEncoder().encode('a shared secret of reasonable length!!')));
    await expect401(discovery(), await hmacToken(es.iss, discovery(), new TextEncoder().encode(JSON.stringify(es.publicJwk)), es.kid));
  });

  it('item 48: valid ES384 and RS384 JWTs from allowlisted issuers → 200 on discovery and on the service', async () => {
    for (const issuer of [es, rs]) {
      const d = await call(discovery(), { token: await issuer.sign({ aud: discovery() }) });
      expect(d.status).toBe(200);
      expect((d.body as { services: unknown[] }).services.length).toBeGreaterThan(0);
      const s = await call(serviceUrl(), { token: await issuer.sign({ aud: serviceUrl() }), body: request() });
      expect(s.status).toBe(200);
      expect((s.body as { cards: unknown[] }).cards.length).toBeGreaterThan(0);
    }
  });

  it('every allowlisted asymmetric algorithm verifies (ES256/384/512, RS256/384/512, PS256/384)', async () => {
    const algs = ['ES256', 'ES512', 'RS256', 'RS512', 'PS256', 'PS384'] as const;
    const issuers = await Promise.all(algs.map((a) => makeIssuer(`https://alg-${a.toLowerCase()}.example.test`, a)));
    const d = tempDir();
    const file = writeIssuersFile(d, issuers.map((i) => ({ iss: i.iss, jwks: i.jwks })));
    const svc = await startTestService({ config: { auth: 'required', trustedIssuersFile: file } });
    try {
      for (const i of issuers) {
        const url = `${svc.url}/cds-services`;
        expect([i.alg, (await call(url, { token: await i.sign({ aud: url }) })).status]).toEqual([i.alg, 200]);
      }
    } finally {
      await svc.close();
    }
  });

  it('item 49: aud naming another endpoint → 401; a one-element array with the exact URL → 200', async () => {
    // The discovery URL is not the service URL, and vice versa.
    await expect401(serviceUrl(), await es.sign({ aud: discovery() }), request());
    await expect401(discovery(), await es.sign({ aud: serviceUrl() }));
    await expect401(discovery(), await es.sign({ aud: `${discovery()}/` }));
    await expect401(discovery(), await es.sign({ aud: 'https://elsewhere.example/cds-services' }));
    await expect401(discovery(), await es.sign({ aud: [] }));
    expect((await call(discovery(), { token: await es.sign({ aud: [discovery()] }) })).status).toBe(200);
    expect((await call(serviceUrl(), { token: await es.sign({ aud: [serviceUrl()] }), body: request() })).status).toBe(200);
    // The feedback endpoint's audience is its own URL (as the sandbox sends it).
    expect((await call(feedbackUrl(), { token: await es.sign({ aud: feedbackUrl() }), body: { feedback: [] } })).status).not.toBe(401);
    await expect401(feedbackUrl(), await es.sign({ aud: serviceUrl() }), { feedback: [] });
  });

  it('item 49: the audience comes from the listening address, never from the Host header', async () => {
    // A proxy (or attacker) controls Host; a token minted for the URL it names must not pass.
    const token = await es.sign({ aud: 'http://evil.example/cds-services' });
    const res = await new Promise<number>((resolve, reject) => {
      const u = new URL(discovery());
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const req = (require('node:http') as typeof import('node:http')).request(
        { host: u.hostname, port: u.port, path: u.pathname, headers: { host: 'evil.example', authorization: `Bearer ${token}` } },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res).toBe(401);
    // localhost and 127.0.0.1 of the bound port are both accepted in test mode.
    const port = new URL(server.url).port;
    for (const base of [`http://localhost:${port}`, `http://127.0.0.1:${port}`]) {
      expect((await call(discovery(), { token: await es.sign({ aud: `${base}/cds-services` }) })).status).toBe(200);
    }
  });

  it('item 50: an expired exp, or a missing iat, jti, kid or typ → 401', async () => {
    await expect401(discovery(), await es.sign({ aud: discovery() }, { iat: -600, exp: -120 }));
    for (const claim of ['iat', 'jti', 'exp', 'aud', 'iss']) {
      await expect401(discovery(), await es.sign({ aud: discovery() }, { omit: [claim] }));
    }
    await expect401(discovery(), await es.sign({ aud: discovery() }, { header: { kid: undefined } }));
    await expect401(discovery(), await es.sign({ aud: discovery() }, { header: { typ: undefined } }));
    await expect401(discovery(), await es.sign({ aud: discovery() }, { header: { typ: 'at+jwt' } }));
  });

  it('item 50: clock skew is bounded: 30 s past exp passes (60 s skew), 90 s does not; exp too far ahead or iat in the future → 401', async () => {
    expect((await call(discovery(), { token: await es.sign({ aud: discovery() }, { iat: -330, exp: -30 }) })).status).toBe(200);
    await expect401(discovery(), await es.sign({ aud: discovery() }, { iat: -390, exp: -90 }));
    await expect401(discovery(), await es.sign({ aud: discovery() }, { exp: 24 * 3600 }));
    await expect401(discovery(), await es.sign({ aud: discovery() }, { iat: 600, exp: 900 }));
    await expect401(discovery(), await es.sign({ aud: discovery(), jti: '' }));
    await expect401(discovery(), await es.sign({ aud: discovery(), jti: 42 }));
  });

  it('item 51: an issuer that is not allowlisted → 401, and its jku is never fetched', async () => {
    const before = jwks.requests.length;
    await expect401(discovery(), await stranger.sign({ aud: discovery() }, { header: { jku: `${jwks.url}/stranger.json` } }));
    await expect401(discovery(), await stranger.sign({ aud: discovery() }));
    expect(jwks.requests.slice(before)).toEqual([]);
  });

  it('item 51: a trusted issuer naming a jku other than its allowlisted one → 401, and that jku is never fetched', async () => {
    const before = jwks.requests.length;
    await expect401(discovery(), await remote.sign({ aud: discovery() }, { header: { jku: `${jwks.url}/stranger.json` } }));
    // An issuer with a static JWKS ignores jku (its keys never come from a URL): valid with one, and an unknown kid is not looked up there.
    expect((await call(discovery(), { token: await es.sign({ aud: discovery() }, { header: { jku: `${jwks.url}/stranger.json` } }) })).status).toBe(200);
    await expect401(discovery(), await es.sign({ aud: discovery() }, { header: { kid: 'no-such-kid', jku: `${jwks.url}/stranger.json` } }));
    expect(jwks.requests.slice(before).filter((r) => r.includes('stranger'))).toEqual([]);
  });

  it('a token signed with a foreign key (right iss and kid, another key pair) → 401', async () => {
    const impostor = await makeIssuer(es.iss, 'ES384', es.kid);
    await expect401(discovery(), await impostor.sign({ aud: discovery() }));
    const rsImpostor = await makeIssuer(rs.iss, 'RS384', rs.kid);
    await expect401(serviceUrl(), await rsImpostor.sign({ aud: serviceUrl() }), request());
  });

  it('a tampered payload (claims changed after signing) → 401', async () => {
    const token = await es.sign({ aud: discovery() });
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    claims.exp = (claims.exp as number) + 60;
    await expect401(discovery(), `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`);
    await expect401(discovery(), `${token}x`);
    await expect401(discovery(), token.split('.').slice(0, 2).join('.'));
  });

  it('item 52: the same jti replayed within its lifetime → 401 (in memory, one process)', async () => {
    const token = await es.sign({ aud: discovery() });
    expect((await call(discovery(), { token })).status).toBe(200);
    await expect401(discovery(), token);
    // Another token with the same jti from the same issuer is a replay too; from another issuer it is not.
    const jti = randomUUID();
    expect((await call(discovery(), { token: await es.sign({ aud: discovery(), jti }) })).status).toBe(200);
    await expect401(discovery(), await es.sign({ aud: discovery(), jti }));
    expect((await call(discovery(), { token: await rs.sign({ aud: discovery(), jti }) })).status).toBe(200);
  });

  it('item 53: 401 bodies do not reveal why — every failure gets the same body; the reason is in the log only', async () => {
    const bodies = new Set<string>();
    const cases = [
      undefined,
      'not-a-jwt',
      unsignedToken(es.iss, discovery()),
      await es.sign({ aud: serviceUrl() }),
      await es.sign({ aud: discovery() }, { iat: -900, exp: -600 }),
      await stranger.sign({ aud: discovery() }),
      await (await makeIssuer(es.iss, 'ES384', es.kid)).sign({ aud: discovery() }),
    ];
    for (const token of cases) {
      const res = await call(discovery(), { token });
      expect(res.status).toBe(401);
      bodies.add(res.text);
    }
    expect([...bodies]).toEqual([UNAUTHORIZED_BODY]);
    expect(UNAUTHORIZED_BODY).not.toMatch(/\b(aud|exp|iss|iat|jti|kid|alg|typ|signature|expired|issuer|replay(ed)?|audience|key)\b/i);
    const reasons = logLines.filter((l) => l.includes('authentication failed')).map((l) => (JSON.parse(l) as { reason: string }).reason);
    for (const r of ['missing-authorization', 'malformed', 'alg-not-allowed', 'aud-mismatch', 'expired', 'iss-not-trusted', 'bad-signature']) {
      expect(reasons).toContain(r);
    }
  });

  it('item 54: a JWT without sub or tenant is accepted; with a tenant allowlist the tenant must be listed', async () => {
    const token = await es.sign({ aud: discovery() });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).not.toHaveProperty('sub');
    expect(claims).not.toHaveProperty('tenant');
    expect((await call(discovery(), { token })).status).toBe(200);
    expect((await call(discovery(), { token: await es.sign({ aud: discovery(), sub: 'x', tenant: 'anything' }) })).status).toBe(200);
    expect((await call(discovery(), { token: await tenanted.sign({ aud: discovery(), tenant: 'org-1' }) })).status).toBe(200);
    await expect401(discovery(), await tenanted.sign({ aud: discovery(), tenant: 'org-2' }));
    await expect401(discovery(), await tenanted.sign({ aud: discovery() }));
  });
});

describe('issuer keys through an allowlisted jku', () => {
  it('a token through the jku is accepted; the JWKS is fetched once and cached', async () => {
    const before = jwks.requests.length;
    for (let i = 0; i < 3; i++) expect((await call(discovery(), { token: await remote.sign({ aud: discovery() }) })).status).toBe(200);
    expect(jwks.requests.length - before).toBeLessThanOrEqual(1);
    // The token may also name the allowlisted jku itself.
    expect((await call(discovery(), { token: await remote.sign({ aud: discovery() }, { header: { jku: `${jwks.url}/jwks.json` } }) })).status).toBe(200);
  });

  it('rotation: a new kid makes the service re-fetch the JWKS (rate-limited), and the old key keeps working while listed', async () => {
    const rotated = await makeIssuer(remote.iss, 'ES384');
    jwks.setJwks({ keys: [remote.publicJwk, rotated.publicJwk] });
    const before = jwks.requests.length;
    expect((await call(discovery(), { token: await rotated.sign({ aud: discovery() }) })).status).toBe(200);
    expect(jwks.requests.length - before).toBe(1);
    expect((await call(discovery(), { token: await remote.sign({ aud: discovery() }) })).status).toBe(200);
    // The old key is withdrawn: after a refresh it no longer verifies.
    jwks.setJwks({ keys: [rotated.publicJwk] });
    const unknownKid = await makeIssuer(remote.iss, 'ES384');
    await expect401(discovery(), await unknownKid.sign({ aud: discovery() })); // forces a refresh
    await expect401(discovery(), await remote.sign({ aud: discovery() }));
    expect((await call(discovery(), { token: await rotated.sign({ aud: discovery() }) })).status).toBe(200);
    jwks.setJwks(remote.jwks);
  });

  it('unknown kids do not make the service hammer the JWKS endpoint (at most one fetch per JWKS_REFRESH_MIN_SECONDS)', async () => {
    const d = tempDir();
    const other = await startJwksServer();
    const issuer = await makeIssuer('https://ehr-ratelimit.example.test');
    other.setJwks(issuer.jwks);
    const file = writeIssuersFile(d, [{ iss: issuer.iss, jku: `${other.url}/jwks.json` }]);
    const svc = await startTestService({ config: { auth: 'required', trustedIssuersFile: file, jwksRefreshMinSeconds: 60 } });
    try {
      const url = `${svc.url}/cds-services`;
      expect((await call(url, { token: await issuer.sign({ aud: url }) })).status).toBe(200);
      for (let i = 0; i < 10; i++) {
        const forged = await makeIssuer(issuer.iss);
        expect((await call(url, { token: await forged.sign({ aud: url }) })).status).toBe(401);
      }
      expect(other.requests.length).toBe(1);
    } finally {
      await svc.close();
      await other.close();
    }
  });

  it('an unreachable or failing JWKS endpoint → 401 within the fetch timeout, never 500', async () => {
    const d = tempDir();
    const issuer = await makeIssuer('https://ehr-down.example.test');
    const down = await startJwksServer();
    down.setStatus(500);
    const file = writeIssuersFile(d, [{ iss: issuer.iss, jku: `${down.url}/jwks.json` }]);
    const svc = await startTestService({ config: { auth: 'required', trustedIssuersFile: file, jwksTimeoutMs: 500, jwksRefreshMinSeconds: 0 } });
    try {
      const url = `${svc.url}/cds-services`;
      expect((await call(url, { token: await issuer.sign({ aud: url }) })).status).toBe(401);
      await down.close();
      const started = Date.now();
      expect((await call(url, { token: await issuer.sign({ aud: url }) })).status).toBe(401);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await svc.close();
    }
  });

  it('a static JWKS file is re-read for an unknown kid, so keys rotate by replacing the file', async () => {
    const d = tempDir();
    const a = await makeIssuer('https://ehr-file.example.test');
    const file = writeIssuersFile(d, [{ iss: a.iss, jwks: a.jwks }]);
    const svc = await startTestService({ config: { auth: 'required', trustedIssuersFile: file, jwksRefreshMinSeconds: 0 } });
    try {
      const url = `${svc.url}/cds-services`;
      expect((await call(url, { token: await a.sign({ aud: url }) })).status).toBe(200);
      const b = await makeIssuer(a.iss);
      expect((await call(url, { token: await b.sign({ aud: url }) })).status).toBe(401);
      writeFileSync(path.join(d, 'issuer-0.jwks.json'), JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }));
      expect((await call(url, { token: await b.sign({ aud: url }) })).status).toBe(200);
    } finally {
      await svc.close();
    }
  });
});
