/**
 * The local development issuer: the project's own CLI and tests sign CDS Hooks JWTs with an ES384 key pair
 * that is generated on first use under `.local/dev-issuer/` (gitignored, private key mode 0600) and trusted
 * only in development and test modes without a `TRUSTED_ISSUERS_FILE`. Creation is race-free across
 * processes (the files appear atomically through `link`), so parallel test workers share one key pair.
 *
 * Anyone who can read `.local/dev-issuer/private.jwk.json` can sign tokens this service accepts in
 * development, which is why production refuses the issuer.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { PROJECT_ROOT } from '../config';

/** `iss` of tokens signed by the development issuer. A URN: there is nothing to fetch. */
export const DEV_ISSUER = 'urn:il6-cds:dev-issuer';
export const DEV_ISSUER_ALG = 'ES384';

/** Where the key pair lives: `<project>/.local/dev-issuer/`. */
export const DEV_ISSUER_DIR = path.join(PROJECT_ROOT, '.local', 'dev-issuer');

export interface DevIssuerFiles {
  dir: string;
  /** Private JWK (with `kid`), mode 0600. */
  privateKey: string;
  /** Public JWKS, the file the service trusts. */
  jwks: string;
}

export function devIssuerFiles(dir: string = DEV_ISSUER_DIR): DevIssuerFiles {
  return { dir, privateKey: path.join(dir, 'private.jwk.json'), jwks: path.join(dir, 'jwks.json') };
}

/** Writes `content` to `file` only if it does not exist yet, atomically; returns false if it already did. */
function createExclusive(file: string, content: string, mode: number): boolean {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, content, { mode, flag: 'wx' });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Creates the key pair if it does not exist yet and returns the file locations. */
export async function ensureDevIssuerKeys(dir: string = DEV_ISSUER_DIR): Promise<DevIssuerFiles> {
  const files = devIssuerFiles(dir);
  if (existsSync(files.privateKey) && existsSync(files.jwks)) return files;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(files.privateKey)) {
    const { privateKey } = await generateKeyPair(DEV_ISSUER_ALG, { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: DEV_ISSUER_ALG, use: 'sig' };
    createExclusive(files.privateKey, `${JSON.stringify(jwk, null, 2)}\n`, 0o600);
  }
  if (!existsSync(files.jwks)) {
    // Derived from whichever private key won the race, so the two files always belong together.
    const { d: _d, ...publicJwk } = readPrivateJwk(files.privateKey);
    createExclusive(files.jwks, `${JSON.stringify({ keys: [publicJwk] }, null, 2)}\n`, 0o644);
  }
  return files;
}

function readPrivateJwk(file: string): JWK & { kid: string } {
  const jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  if (typeof jwk.kid !== 'string' || typeof jwk.d !== 'string') throw new Error(`${file} is not a private JWK with a kid`);
  return jwk as JWK & { kid: string };
}

export interface DevTokenOptions {
  /** The exact URL invoked, e.g. `http://localhost:8080/cds-services/il6-inflammation` (a string or an array). */
  aud: string | string[];
  /** Lifetime in seconds (default 300, like the sandbox and Inferno). */
  expiresIn?: number;
  /** Default: a random UUID. */
  jti?: string;
  /** Optional claims; never required by the service. */
  tenant?: string;
  sub?: string;
  /** Key folder; default `.local/dev-issuer/` of the project. */
  dir?: string;
}

/**
 * Signs a CDS Hooks client JWT as the development issuer (header `alg` ES384, `typ` JWT, `kid`; claims
 * `iss`, `aud`, `exp`, `iat`, `jti`), creating the key pair on first use.
 */
export async function signDevToken(opts: DevTokenOptions): Promise<string> {
  const files = await ensureDevIssuerKeys(opts.dir);
  const jwk = readPrivateJwk(files.privateKey);
  const key = await importJWK(jwk, DEV_ISSUER_ALG);
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (opts.tenant !== undefined) claims.tenant = opts.tenant;
  if (opts.sub !== undefined) claims.sub = opts.sub;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: DEV_ISSUER_ALG, typ: 'JWT', kid: jwk.kid })
    .setIssuer(DEV_ISSUER)
    .setAudience(opts.aud)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresIn ?? 300))
    .setJti(opts.jti ?? randomUUID())
    .sign(key);
}
