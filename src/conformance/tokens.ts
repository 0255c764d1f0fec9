/**
 * The suite's CDS client JWTs (CDS Hooks 2.0 §trusting-cds-clients): well-formed ones signed with a key the target
 * trusts, and deliberately broken ones (unsigned, HMAC, wrong audience, expired, missing claims or headers, a
 * foreign `jku`, an untrusted issuer).
 *
 * The key is a private JWK, or a JWKS of private keys (e.g. one ES384 and one RS384, so item 48 checks both),
 * given with the issuer the target trusts it for. Without one, the suite signs as the project's local
 * development issuer (`.local/dev-issuer/`), which the project's service trusts in development and test mode.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateKeyPair, exportJWK, importJWK, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { DEV_ISSUER, ensureDevIssuerKeys } from '../auth/dev-issuer';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey | KeyObject | Uint8Array;
  publicJwk: JWK;
}

export interface TokenOptions {
  /** Sign with this key instead of the first one. */
  key?: SigningKey;
  /** Header members to add or replace; `undefined` removes one (e.g. `{ typ: undefined }`). */
  header?: Record<string, unknown>;
  /** Claims to add or replace; `undefined` removes one (e.g. `{ iat: undefined }`). */
  claims?: Record<string, unknown>;
  /** Seconds relative to now. Defaults: iat 0, exp +300 (like the sandbox and Inferno). */
  iat?: number;
  exp?: number;
}

export interface Signer {
  iss: string;
  /** The first key signs by default. */
  keys: SigningKey[];
  /** A `jku` header every token carries (the issuer's allowlisted JWKS URL), if given. */
  jku?: string;
  /** Where the key came from, for the report. */
  source: string;
  sign(aud: string | string[], opts?: TokenOptions): Promise<string>;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function inferAlg(jwk: JWK): string | undefined {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC') return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''];
  if (jwk.kty === 'RSA') return 'RS384';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

async function toSigningKey(jwk: JWK, kid: string | undefined, where: string): Promise<SigningKey> {
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') throw new Error(`${where} is not a JWK`);
  if (jwk.kty === 'oct') throw new Error(`${where} is a symmetric key: CDS Hooks clients sign with asymmetric keys (ES384, RS384 …)`);
  if (typeof jwk.d !== 'string') throw new Error(`${where} is a public key: the suite needs the private key to sign tokens`);
  const alg = inferAlg(jwk);
  if (!alg) throw new Error(`${where}: cannot tell the algorithm (give "alg" in the JWK)`);
  const keyId = kid ?? jwk.kid;
  if (!keyId) throw new Error(`${where} has no "kid" (give --kid)`);
  const privateKey = await importJWK(jwk, alg);
  const publicJwk: JWK = Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE_MEMBERS.includes(k)));
  publicJwk.kid = keyId;
  publicJwk.alg = alg;
  return { kid: keyId, alg, privateKey, publicJwk };
}

/** Reads a private JWK or a JWKS of private keys (`{"keys": [...]}`). `kid` overrides the key id of a single key. */
export async function loadKeys(file: string, kid?: string): Promise<SigningKey[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`--key ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not a JSON file (${(err as Error).message})`}`);
  }
  const list = doc && typeof doc === 'object' && Array.isArray((doc as { keys?: unknown }).keys) ? ((doc as { keys: JWK[] }).keys) : [doc as JWK];
  if (list.length === 0) throw new Error(`--key ${file}: the key set is empty`);
  if (kid && list.length > 1) throw new Error('--kid applies to a single key; the key set has several (give each its "kid")');
  return Promise.all(list.map((jwk, i) => toSigningKey(jwk, kid, `--key ${file}${list.length > 1 ? ` (key ${i + 1})` : ''}`)));
}

/** A signer for `iss` with `keys`. */
export function makeSigner(iss: string, keys: SigningKey[], source: string, jku?: string): Signer {
  if (keys.length === 0) throw new Error('no signing key');
  return {
    iss,
    keys,
    source,
    ...(jku ? { jku } : {}),
    async sign(aud, opts = {}) {
      const key = opts.key ?? keys[0]!;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss, aud, iat: now + (opts.iat ?? 0), exp: now + (opts.exp ?? 300), jti: randomUUID(), ...opts.claims };
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
      const header: Record<string, unknown> = { alg: key.alg, typ: 'JWT', kid: key.kid, ...(jku ? { jku } : {}), ...opts.header };
      for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
      // The raw payload object: SignJWT signs what it is given, so omitted claims stay omitted.
      return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
    },
  };
}

/** The local development issuer of this project (created on first use), as the default signer. */
export async function devIssuerSigner(): Promise<Signer> {
  const files = await ensureDevIssuerKeys();
  const keys = await loadKeys(files.privateKey);
  return makeSigner(DEV_ISSUER, keys, `the local development issuer (${DEV_ISSUER}, ${files.privateKey})`);
}

/** A fresh key pair nobody trusts (the untrusted issuer of item 51). */
export async function strangerSigner(iss: string, alg = 'ES384'): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return makeSigner(iss, [{ kid, alg, privateKey, publicJwk }], 'a key made for this run');
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned token (`alg: none`) with otherwise valid claims, as an attacker would send it. */
export function unsignedToken(iss: string, aud: string, kid: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url({ iss, aud, iat: now, exp: now + 300, jti: randomUUID() })}.`;
}

/** An HS256 token keyed with `secret` (default: random bytes). */
export async function hmacToken(iss: string, aud: string, kid: string, secret: Uint8Array = randomBytes(32)): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss, aud, iat: now, exp: now + 300, jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid }).sign(secret);
}
