/**
 * Test issuers for the security tests: key pairs made per test run (never stored in git), tokens signed
 * with them — well-formed or deliberately broken — an issuers file in a temp folder, and a real JWKS HTTP
 * server on loopback for the `jku` path (rotation, unknown-kid refresh, "never fetched" checks).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface TestIssuer {
  iss: string;
  alg: string;
  kid: string;
  publicJwk: JWK;
  jwks: { keys: JWK[] };
  sign(claims: TokenClaims, opts?: TokenOptions): Promise<string>;
}

export interface TokenClaims {
  aud: string | string[];
  [claim: string]: unknown;
}

export interface TokenOptions {
  /** Header members to add or replace (`undefined` removes one, e.g. `{ typ: undefined }`). */
  header?: Record<string, unknown>;
  /** Claims to leave out (e.g. `['iat']`). */
  omit?: string[];
  /** Seconds relative to now. Defaults: iat 0, exp +300. */
  iat?: number;
  exp?: number;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export async function makeIssuer(iss: string, alg: 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' = 'ES384', kid: string = randomUUID()): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    iss,
    alg,
    kid,
    publicJwk,
    jwks: { keys: [publicJwk] },
    async sign(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss, iat: now + (opts.iat ?? 0), exp: now + (opts.exp ?? 300), jti: randomUUID(), ...claims };
      for (const c of opts.omit ?? []) delete payload[c];
      const header: Record<string, unknown> = { alg, typ: 'JWT', kid, ...opts.header };
      for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
      // SignJWT with the raw payload object: it signs what it is given (setters would re-add omitted claims).
      return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(privateKey);
    },
  };
}

/** An unsigned token (`alg: none`), as an attacker would send it. */
export function unsignedToken(iss: string, aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${b64url({ iss, aud, iat: now, exp: now + 300, jti: randomUUID() })}.`;
}

/** An HMAC-signed token (HS256) with the given secret. */
export async function hmacToken(iss: string, aud: string, secret: Uint8Array, kid = 'k1'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss, aud, iat: now, exp: now + 300, jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid }).sign(secret);
}

export function tempDir(prefix = 'il6-cds-security-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface IssuerFileEntry {
  iss: string;
  jwksFile?: string;
  jku?: string;
  fhirServers?: string[];
  tenants?: string[];
}

/** Writes `{"issuers": [...]}` (and any JWKS files given as objects) into `dir`; returns the issuers file path. */
export function writeIssuersFile(dir: string, entries: (IssuerFileEntry & { jwks?: { keys: JWK[] } })[]): string {
  const issuers = entries.map(({ jwks, ...e }, i) => {
    if (jwks) {
      const name = `issuer-${i}.jwks.json`;
      writeFileSync(path.join(dir, name), JSON.stringify(jwks));
      return { ...e, jwksFile: name }; // relative: resolved against the issuers file's folder
    }
    return e;
  });
  const file = path.join(dir, 'trusted-issuers.json');
  writeFileSync(file, JSON.stringify({ issuers }, null, 2));
  return file;
}

export interface JwksServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Every request path received, in order. */
  requests: string[];
  /** Serves `jwks` at `path` (default `/jwks.json`). */
  setJwks(jwks: { keys: JWK[] }, path?: string): void;
  /** Every following request gets this status (or the JWKS again with `undefined`). */
  setStatus(status: number | undefined): void;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const docs = new Map<string, string>();
  const requests: string[] = [];
  let status: number | undefined;
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const doc = docs.get(req.url ?? '');
    if (status !== undefined || doc === undefined) {
      res.writeHead(status ?? 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(doc);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setJwks(jwks, p = '/jwks.json') {
      docs.set(p, JSON.stringify(jwks));
    },
    setStatus(s) {
      status = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** GET/POST with a bearer token; returns status, parsed body and headers. */
export async function call(
  url: string,
  opts: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(url, {
    method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}
