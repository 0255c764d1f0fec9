/**
 * Which issuers are trusted in which mode: the public CDS Hooks sandbox and the local development issuer in
 * development and test only; production needs TRUSTED_ISSUERS_FILE, refuses the sandbox, the development
 * issuer, AUTH=disabled and a non-https public URL — at start-up, with a clear configuration error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEV_ISSUER, SANDBOX_ISSUER, SANDBOX_JKU, signDevToken } from '../../src/auth';
import { loadTrustedIssuers } from '../../src/auth/issuers';
import { ConfigError } from '../../src/config';
import { startTestService, testConfig } from '../support/service';
import { runServiceProcess } from './support/process';
import { call, makeIssuer, tempDir, writeIssuersFile } from './support/issuers';

const SANDBOX_KID = '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f';

describe('development and test mode without TRUSTED_ISSUERS_FILE', () => {
  it('trusts the public sandbox (built-in JWKS, its jku allowlisted) and the local development issuer', () => {
    const issuers = loadTrustedIssuers(testConfig({ auth: 'required' }));
    expect([...issuers.keys()].sort()).toEqual([SANDBOX_ISSUER, DEV_ISSUER].sort());
    expect(issuers.get(SANDBOX_ISSUER)!.jku).toBe(SANDBOX_JKU);
    const jwks = JSON.parse(readFileSync(path.join(__dirname, '../../src/auth/sandbox-jwks.json'), 'utf8')) as { keys: { kid: string; crv: string; d?: string }[] };
    expect(jwks.keys.map((k) => [k.kid, k.crv])).toEqual([[SANDBOX_KID, 'P-384']]);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true); // public key only
    expect(issuers.get(SANDBOX_ISSUER)!.fhirServerAllowed('http://localhost:8081/fhir')).toBe(true);
    expect(issuers.get(SANDBOX_ISSUER)!.fhirServerAllowed('https://hapi.fhir.org/baseR4')).toBe(true);
    expect(issuers.get(SANDBOX_ISSUER)!.fhirServerAllowed('https://launch.smarthealthit.org/v/r2/fhir')).toBe(false);
  });

  it('a sandbox-issuer token with the sandbox kid but another key → 401 without any fetch; an unknown kid fetches only the sandbox jku, rate-limited', async () => {
    const fetched: string[] = [];
    const fakeFetch = (async (url: string | URL) => {
      fetched.push(String(url));
      throw new Error('offline');
    }) as typeof fetch;
    const issuers = loadTrustedIssuers(testConfig({ auth: 'required', jwksRefreshMinSeconds: 60 }), { fetch: fakeFetch });
    const sandbox = issuers.get(SANDBOX_ISSUER)!;
    const forged = await makeIssuer(SANDBOX_ISSUER, 'ES384', SANDBOX_KID);
    const { jwtVerify } = await import('jose');
    await expect(jwtVerify(await forged.sign({ aud: 'x' }), sandbox.getKey)).rejects.toThrow();
    expect(fetched).toEqual([]);
    const unknownKid = await makeIssuer(SANDBOX_ISSUER, 'ES384');
    for (let i = 0; i < 3; i++) await expect(jwtVerify(await unknownKid.sign({ aud: 'x' }), sandbox.getKey)).rejects.toThrow();
    expect(fetched).toEqual([SANDBOX_JKU]);
  });

  it('tokens signed with signDevToken are accepted (the key pair is created on first use under .local/dev-issuer/)', async () => {
    const svc = await startTestService({ config: { auth: 'required' } });
    try {
      const url = `${svc.url}/cds-services`;
      expect((await call(url, { token: await signDevToken({ aud: url }) })).status).toBe(200);
      expect((await call(url, { token: await signDevToken({ aud: [url], tenant: 't1', sub: 'someone' }) })).status).toBe(200);
      expect((await call(url, { token: await signDevToken({ aud: `${url}/il6-inflammation` }) })).status).toBe(401);
    } finally {
      await svc.close();
    }
  });

  it('with TRUSTED_ISSUERS_FILE only its issuers are trusted (no sandbox, no development issuer)', async () => {
    const a = await makeIssuer('https://ehr-only.example.test');
    const file = writeIssuersFile(tempDir(), [{ iss: a.iss, jwks: a.jwks }]);
    expect([...loadTrustedIssuers(testConfig({ auth: 'required', trustedIssuersFile: file })).keys()]).toEqual([a.iss]);
    const svc = await startTestService({ config: { auth: 'required', trustedIssuersFile: file } });
    try {
      const url = `${svc.url}/cds-services`;
      expect((await call(url, { token: await signDevToken({ aud: url }) })).status).toBe(401);
      expect((await call(url, { token: await a.sign({ aud: url }) })).status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('a broken issuers file stops start-up with a message naming the problem', async () => {
    const dir = tempDir();
    const cases: [unknown, RegExp][] = [
      [{ issuers: [{ iss: 'https://x.example' }] }, /needs "jwksFile" or "jku"/],
      [{ issuers: [{ iss: 'https://x.example', jwksFile: 'missing.json' }] }, /jwksFile of https:\/\/x.example .* unusable/],
      [{ issuers: [{ iss: 'https://x.example', jku: 'ftp://x.example/jwks' }] }, /jku must be an https URL/],
      [{ issuers: [{ iss: 'https://x.example', jku: 'https://x.example/jwks', fhirServers: ['https://u:p@ehr.example/fhir'] }] }, /fhirServers/],
      [{ issuers: [{ iss: 'https://x.example', jku: 'https://x.example/jwks', jwks: {} }] }, /unknown key\(s\) jwks/],
      [{ issuers: [{ iss: 'a', jku: 'https://x.example/j' }, { iss: 'a', jku: 'https://x.example/j' }] }, /listed twice/],
      [{ issuer: [] }, /expected an object \{"issuers"/],
    ];
    for (const [doc, message] of cases) {
      const file = path.join(dir, 'issuers.json');
      writeFileSync(file, JSON.stringify(doc));
      await expect(startTestService({ config: { auth: 'required', trustedIssuersFile: file } })).rejects.toThrow(message);
    }
    await expect(startTestService({ config: { auth: 'required', trustedIssuersFile: path.join(dir, 'nope.json') } })).rejects.toThrow(ConfigError);
  });
});

describe('production mode (NODE_ENV=production)', () => {
  const prod = (extra: Parameters<typeof testConfig>[0] = {}) => ({ nodeEnv: 'production', auth: 'required', publicBaseUrl: 'https://cds.example.test', ...extra });

  it('refuses to start with AUTH=disabled', async () => {
    await expect(startTestService({ config: prod({ auth: 'disabled' }) })).rejects.toThrow(/refuses AUTH=disabled/);
  });

  it('refuses to start without TRUSTED_ISSUERS_FILE (the sandbox and development issuers are development-only)', async () => {
    await expect(startTestService({ config: prod() })).rejects.toThrow(/needs TRUSTED_ISSUERS_FILE/);
  });

  it('refuses to start when the issuers file trusts the public sandbox (by iss or by jku) or the development issuer', async () => {
    const dir = tempDir();
    const a = await makeIssuer('https://ehr.example.test');
    for (const [entries, message] of [
      [[{ iss: SANDBOX_ISSUER, jku: SANDBOX_JKU }], /public CDS Hooks sandbox/],
      [[{ iss: 'https://looks-innocent.example', jku: SANDBOX_JKU }], /public CDS Hooks sandbox/],
      [[{ iss: `${SANDBOX_ISSUER}`, jwks: a.jwks }], /public CDS Hooks sandbox/],
      [[{ iss: DEV_ISSUER, jwks: a.jwks }], /local development issuer/],
      [[{ iss: a.iss, jku: 'http://ehr.example.test/jwks.json' }], /https URL in production/],
      [[{ iss: a.iss, jwks: a.jwks, fhirServers: ['http://ehr.example.test/fhir'] }], /must be https in production/],
    ] as const) {
      const file = writeIssuersFile(dir, entries as never);
      await expect(startTestService({ config: prod({ trustedIssuersFile: file }) })).rejects.toThrow(message);
    }
  });

  it('refuses to start without an https PUBLIC_BASE_URL (TLS ends at the proxy; aud is checked against it)', async () => {
    const a = await makeIssuer('https://ehr.example.test');
    const file = writeIssuersFile(tempDir(), [{ iss: a.iss, jwks: a.jwks }]);
    await expect(startTestService({ config: prod({ trustedIssuersFile: file, publicBaseUrl: 'http://cds.example.test' }) })).rejects.toThrow(/PUBLIC_BASE_URL/);
  });

  it('starts with a safe configuration; the audience is PUBLIC_BASE_URL + path, never the local address', async () => {
    const a = await makeIssuer('https://ehr.example.test');
    const file = writeIssuersFile(tempDir(), [{ iss: a.iss, jwks: a.jwks, fhirServers: ['https://ehr.example.test/fhir'] }]);
    const svc = await startTestService({ config: prod({ trustedIssuersFile: file }) });
    try {
      const local = `${svc.url}/cds-services`;
      expect((await call(local, { token: await a.sign({ aud: 'https://cds.example.test/cds-services' }) })).status).toBe(200);
      expect((await call(local, { token: await a.sign({ aud: local }) })).status).toBe(401);
      const port = new URL(svc.url).port;
      expect((await call(local, { token: await a.sign({ aud: `http://localhost:${port}/cds-services` }) })).status).toBe(401);
    } finally {
      await svc.close();
    }
  });

  it('the real process (npm start) exits with status 2 and a clear message when production trusts the sandbox', async () => {
    const dir = tempDir();
    const file = writeIssuersFile(dir, [{ iss: SANDBOX_ISSUER, jku: SANDBOX_JKU }]);
    const res = await runServiceProcess({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://cds.example.test', TRUSTED_ISSUERS_FILE: file, DATA_DIR: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/configuration error: .*public CDS Hooks sandbox.*refused in production/);
    const disabled = await runServiceProcess({ NODE_ENV: 'production', AUTH: 'disabled', PUBLIC_BASE_URL: 'https://cds.example.test', DATA_DIR: dir });
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toMatch(/refuses AUTH=disabled/);
  }, 60_000);
});
