/**
 * Trusted issuers: who may call this service, with which keys, and which FHIR servers the service may
 * contact on their behalf.
 *
 * Configuration contract (documented in the README; other tools and deployments depend on it):
 * `TRUSTED_ISSUERS_FILE` names a JSON file
 *
 *   { "issuers": [ { "iss": "https://ehr.example",
 *                    "jwksFile": "keys/ehr.jwks.json"  |  "jku": "https://ehr.example/.well-known/jwks.json",
 *                    "fhirServers": ["https://ehr.example/fhir"],
 *                    "tenants": ["optional", "allowlist"] } ] }
 *
 * At least one of `jwksFile` and `jku` per issuer (with both, the file's keys are tried first and the `jku`
 * is fetched for a `kid` the file does not hold). Relative `jwksFile` paths resolve against the folder of
 * the issuers file. `fhirServers` (default none) are base URLs; see `fhir-allowlist.ts`. `tenants`, when
 * given, must contain the token's `tenant` claim; without it `tenant` is not checked.
 *
 * Without the file, development and test modes trust the public CDS Hooks sandbox (its public JWKS is built
 * in; its `jku` is fetched only for a `kid` the built-in copy lacks, and only if reachable) and the local
 * development issuer (`dev-issuer.ts`); both may use the development FHIR-server default (loopback hosts and
 * the public HAPI R4 server). Production mode needs the file and refuses both of those issuers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, PROJECT_ROOT, type Config } from '../config';
import { DEV_ISSUER, DEV_ISSUER_DIR, devIssuerFiles } from './dev-issuer';
import { checkBaseUrl, devDefaultFhirServers, fhirServerMatcher, type FhirServerAllowed } from './fhir-allowlist';
import { fileKeySet, inlineKeySet, keyGetter, remoteKeySet, sanitizeJwks, type GetKey, type KeySet, type KeySetEvent } from './jwks';
import sandboxJwks from './sandbox-jwks.json';

export const SANDBOX_ISSUER = 'https://sandbox.cds-hooks.org';
export const SANDBOX_JKU = 'https://sandbox.cds-hooks.org/.well-known/jwks.json';
const SANDBOX_HOST = 'sandbox.cds-hooks.org';

export interface TrustedIssuer {
  iss: string;
  /** Where its keys come from, for the log. */
  origin: 'file' | 'sandbox' | 'dev';
  getKey: GetKey;
  /** The `jku` a token of this issuer may name (exact match); other `jku` values are refused, never fetched. */
  jku?: string;
  tenants?: readonly string[];
  fhirServerAllowed: FhirServerAllowed;
}

export type TrustedIssuers = ReadonlyMap<string, TrustedIssuer>;

export interface IssuerEntry {
  iss: string;
  jwksFile?: string;
  jku?: string;
  fhirServers?: string[];
  tenants?: string[];
}

const ENTRY_KEYS = new Set(['iss', 'jwksFile', 'jku', 'fhirServers', 'tenants']);

function isSandbox(url: string): boolean {
  try {
    return new URL(url).hostname === SANDBOX_HOST;
  } catch {
    return false;
  }
}

/** Parses and checks the issuers file's text; `jwksFile` paths come back absolute. Throws ConfigError. */
export function parseIssuersFile(text: string, file: string, nodeEnv: string): IssuerEntry[] {
  const fail = (why: string): never => {
    throw new ConfigError(`TRUSTED_ISSUERS_FILE ${file}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  const list = (doc as { issuers?: unknown } | null)?.issuers;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(list)) return fail('expected an object {"issuers": [...]}');
  const extraTop = Object.keys(doc).filter((k) => k !== 'issuers' && k !== '$comment');
  if (extraTop.length > 0) fail(`unknown key(s) ${extraTop.join(', ')}`);
  const production = nodeEnv === 'production';
  const seen = new Set<string>();
  return list.map((raw, i): IssuerEntry => {
    const at = `issuers[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail(`${at} is not an object`);
    const e = raw as Record<string, unknown>;
    const unknown = Object.keys(e).filter((k) => !ENTRY_KEYS.has(k) && k !== '$comment');
    if (unknown.length > 0) fail(`${at} has unknown key(s) ${unknown.join(', ')}`);
    if (typeof e.iss !== 'string' || e.iss.trim() === '') return fail(`${at}.iss must be a non-empty string`);
    const iss = e.iss;
    if (seen.has(iss)) fail(`${at}.iss ${iss} is listed twice`);
    seen.add(iss);
    if (e.jwksFile === undefined && e.jku === undefined) fail(`${at} (${iss}) needs "jwksFile" or "jku"`);
    if (e.jwksFile !== undefined && (typeof e.jwksFile !== 'string' || e.jwksFile === '')) fail(`${at}.jwksFile must be a path`);
    if (e.jku !== undefined) {
      if (typeof e.jku !== 'string') return fail(`${at}.jku must be a URL`);
      let u: URL | undefined;
      try {
        u = new URL(e.jku);
      } catch {
        fail(`${at}.jku ${e.jku} is not an absolute URL`);
      }
      if (u!.protocol !== 'https:' && (production || u!.protocol !== 'http:')) fail(`${at}.jku must be an https URL${production ? ' in production' : ''}`);
    }
    for (const key of ['fhirServers', 'tenants'] as const) {
      const v = e[key];
      if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))) fail(`${at}.${key} must be an array of non-empty strings`);
    }
    for (const base of (e.fhirServers as string[] | undefined) ?? []) {
      try {
        checkBaseUrl(base);
      } catch (err) {
        fail(`${at}.fhirServers: ${(err as Error).message}`);
      }
      if (production && !base.startsWith('https://')) fail(`${at}.fhirServers: ${base} must be https in production`);
    }
    if (production) {
      if (isSandbox(iss) || (typeof e.jku === 'string' && isSandbox(e.jku))) {
        fail(`${at} trusts the public CDS Hooks sandbox, whose private key is published: refused in production (NODE_ENV=production)`);
      }
      if (iss === DEV_ISSUER) fail(`${at} trusts the local development issuer: refused in production (NODE_ENV=production)`);
    }
    return {
      iss,
      ...(typeof e.jwksFile === 'string' ? { jwksFile: path.resolve(path.dirname(file), e.jwksFile) } : {}),
      ...(typeof e.jku === 'string' ? { jku: e.jku } : {}),
      ...(e.fhirServers ? { fhirServers: e.fhirServers as string[] } : {}),
      ...(e.tenants ? { tenants: e.tenants as string[] } : {}),
    };
  });
}

export interface IssuerOptions {
  onKeySetEvent?: (e: KeySetEvent) => void;
  fetch?: typeof fetch;
  /** Folder of the development issuer's key pair (tests); default `.local/dev-issuer/`. */
  devIssuerDir?: string;
}

function policy(config: Config) {
  return { maxAgeMs: config.jwksCacheSeconds * 1000, minRefreshMs: config.jwksRefreshMinSeconds * 1000, timeoutMs: config.jwksTimeoutMs };
}

/** Resolves the configured issuers file path (relative paths against the project root). */
export function issuersFilePath(config: Config): string | undefined {
  return config.trustedIssuersFile ? path.resolve(PROJECT_ROOT, config.trustedIssuersFile) : undefined;
}

/** The trusted issuers for this configuration. Throws ConfigError for an unusable or unsafe configuration. */
export function loadTrustedIssuers(config: Config, opts: IssuerOptions = {}): TrustedIssuers {
  const file = issuersFilePath(config);
  const production = config.nodeEnv === 'production';
  const p = { ...policy(config), onEvent: opts.onKeySetEvent, fetch: opts.fetch };
  const out = new Map<string, TrustedIssuer>();
  if (!file) {
    if (production) throw new ConfigError('Production mode (NODE_ENV=production) needs TRUSTED_ISSUERS_FILE: the public sandbox and the development issuer are trusted in development and test only.');
    out.set(SANDBOX_ISSUER, {
      iss: SANDBOX_ISSUER,
      origin: 'sandbox',
      getKey: keyGetter([inlineKeySet('sandbox:built-in', sandboxJwks, p), remoteKeySet(SANDBOX_JKU, p)]),
      jku: SANDBOX_JKU,
      fhirServerAllowed: devDefaultFhirServers,
    });
    const dev = devIssuerFiles(opts.devIssuerDir ?? DEV_ISSUER_DIR);
    out.set(DEV_ISSUER, {
      iss: DEV_ISSUER,
      origin: 'dev',
      // Created on first use by signDevToken, possibly after the service started: re-read soon after a miss.
      getKey: keyGetter([fileKeySet(dev.jwks, { ...p, minRefreshMs: Math.min(p.minRefreshMs, 1000) })]),
      fhirServerAllowed: devDefaultFhirServers,
    });
    return out;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`TRUSTED_ISSUERS_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  for (const entry of parseIssuersFile(text, file, config.nodeEnv)) {
    const sets: KeySet[] = [];
    if (entry.jwksFile) {
      checkJwksFile(entry.jwksFile, entry.iss);
      sets.push(fileKeySet(entry.jwksFile, p));
    }
    if (entry.jku) sets.push(remoteKeySet(entry.jku, p));
    out.set(entry.iss, {
      iss: entry.iss,
      origin: 'file',
      getKey: keyGetter(sets),
      ...(entry.jku ? { jku: entry.jku } : {}),
      ...(entry.tenants ? { tenants: entry.tenants } : {}),
      fhirServerAllowed: fhirServerMatcher(entry.fhirServers ?? []),
    });
  }
  return out;
}

/** A configured JWKS file must exist and hold at least one public signature key at start-up. */
function checkJwksFile(file: string, iss: string): void {
  let keys: number;
  try {
    keys = sanitizeJwks(JSON.parse(readFileSync(file, 'utf8'))).keys.length;
  } catch (err) {
    throw new ConfigError(`TRUSTED_ISSUERS_FILE: the jwksFile of ${iss} (${file}) is unusable: ${(err as Error).message}`);
  }
  if (keys === 0) throw new ConfigError(`TRUSTED_ISSUERS_FILE: the jwksFile of ${iss} (${file}) holds no public RSA or EC signature key`);
}
