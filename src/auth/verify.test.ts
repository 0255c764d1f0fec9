import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { devDefaultFhirServers } from './fhir-allowlist';
import type { TrustedIssuers } from './issuers';
import { inlineKeySet, keyGetter } from './jwks';
import { MemoryReplayStore } from './replay';
import { AuthFailure, bearerToken, replayKey, verifyClientJwt, type AuthFailureReason } from './verify';

const ISS = 'https://ehr.example';
const AUD = 'https://cds.example/cds-services';
const NOW = 1_800_000_000_000;

let sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>;
let issuers: TrustedIssuers;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES384');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384' };
  const policy = { maxAgeMs: 1e9, minRefreshMs: 0 };
  issuers = new Map([[ISS, { iss: ISS, origin: 'file' as const, getKey: keyGetter([inlineKeySet('test', { keys: [jwk] }, policy)]), jku: 'https://ehr.example/jwks', fhirServerAllowed: devDefaultFhirServers }]]);
  sign = (claims, header = {}) => {
    const now = Math.floor(NOW / 1000);
    const payload = { iss: ISS, aud: AUD, iat: now, exp: now + 300, jti: randomUUID(), ...claims };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete (payload as Record<string, unknown>)[k];
    const h = { alg: 'ES384', typ: 'JWT', kid: 'k1', ...header };
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete (h as Record<string, unknown>)[k];
    return new SignJWT(payload).setProtectedHeader(h as { alg: string }).sign(privateKey);
  };
});

function verify(token: string, replay = new MemoryReplayStore({ now: () => NOW })) {
  return verifyClientJwt(token, { issuers, replay, audiences: [AUD], clockSkewSeconds: 60, maxLifetimeSeconds: 600, now: () => NOW });
}

async function reason(token: string): Promise<AuthFailureReason> {
  try {
    await verify(token);
  } catch (err) {
    if (err instanceof AuthFailure) return err.reason;
    throw err;
  }
  throw new Error('token was accepted');
}

describe('verifyClientJwt', () => {
  it('accepts a well-formed token and returns the issuer', async () => {
    const v = await verify(await sign({}));
    expect(v.iss).toBe(ISS);
    expect(v.tenant).toBeUndefined();
  });

  it('names the reason of each failure (for the log)', async () => {
    const now = Math.floor(NOW / 1000);
    expect(await reason('abc')).toBe('malformed');
    expect(await reason(`${Buffer.from('{"alg":"none","typ":"JWT","kid":"k1"}').toString('base64url')}.${Buffer.from(`{"iss":"${ISS}"}`).toString('base64url')}.`)).toBe('alg-not-allowed');
    expect(await reason(await sign({}, { typ: undefined }))).toBe('typ-not-jwt');
    expect(await reason(await sign({}, { kid: undefined }))).toBe('kid-missing');
    expect(await reason(await sign({ iss: undefined }))).toBe('iss-missing');
    expect(await reason(await sign({ iss: 'https://other.example' }))).toBe('iss-not-trusted');
    expect(await reason(await sign({}, { jku: 'https://evil.example/jwks' }))).toBe('jku-not-allowlisted');
    expect(await reason(await sign({}, { kid: 'k2' }))).toBe('no-matching-key');
    expect(await reason(await sign({ aud: 'https://cds.example/cds-services/x' }))).toBe('aud-mismatch');
    expect(await reason(await sign({ exp: now - 61, iat: now - 300 }))).toBe('expired');
    expect(await reason(await sign({ exp: now + 700 }))).toBe('exp-too-far');
    expect(await reason(await sign({ iat: now + 120 }))).toBe('iat-invalid');
    expect(await reason(await sign({ iat: now - 700 }))).toBe('iat-invalid');
    expect(await reason(await sign({ jti: undefined }))).toBe('claim-missing');
    expect(await reason(await sign({ jti: 'x'.repeat(300) }))).toBe('claim-invalid');
    expect(await reason(await sign({ tenant: 7 }))).toBe('claim-invalid');
  });

  it('refuses a replayed jti, per issuer', async () => {
    const replay = new MemoryReplayStore({ now: () => NOW });
    const token = await sign({});
    await verify(token, replay);
    await expect(verify(token, replay)).rejects.toMatchObject({ reason: 'replayed' });
  });

  it('replay keys are hashes of issuer and jti', () => {
    expect(replayKey('a', 'b')).not.toBe(replayKey('a\0', 'b'.slice(1)));
    expect(replayKey('a', 'jti-123')).not.toContain('jti-123');
  });
});

describe('bearerToken', () => {
  it('extracts the token from a Bearer header, case-insensitively', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc.def.ghi')).toBe('abc.def.ghi');
  });
  it.each([undefined, '', 'Basic abc', 'Bearer', 'Bearer a b', 'Bearerabc'])('refuses %p', (h) => {
    expect(() => bearerToken(h)).toThrow(AuthFailure);
  });
});

describe('MemoryReplayStore', () => {
  it('forgets keys when they expire and refuses when full', async () => {
    let now = 0;
    const store = new MemoryReplayStore({ now: () => now, maxEntries: 2 });
    expect(await store.claim('a', 10)).toBe(true);
    expect(await store.claim('a', 10)).toBe(false);
    expect(await store.claim('b', 100)).toBe(true);
    await expect(store.claim('c', 100)).rejects.toThrow(/full/);
    now = 11_000; // a expired
    expect(await store.claim('c', 100)).toBe(true);
    await expect(store.claim('d', 100)).rejects.toThrow(/full/); // b and c are live
  });
});
