/**
 * Verification of a CDS client's JWT (CDS Hooks 2.0 §trusting-cds-clients), in this order, stopping at the
 * first failure:
 *   1. shape: three base64url parts, at most 16 KiB;
 *   2. header: `alg` on the asymmetric allowlist (never `none`, never HMAC), `typ` JWT, `kid` present, a
 *      `jku` (if any) equal to the issuer's allowlisted one;
 *   3. `iss` is a trusted issuer — decided before any key is looked up, so an unknown issuer never causes a
 *      fetch;
 *   4. signature against that issuer's keys;
 *   5. claims: `aud` (string or array) names the exact URL invoked, `exp` not past and at most
 *      `maxLifetimeSeconds` ahead, `iat` not in the future and not older than `maxLifetimeSeconds`, `jti`
 *      a non-empty string, `tenant` allowlisted when the issuer lists tenants — with `clockSkewSeconds`
 *      tolerance; `sub` and `tenant` are never required;
 *   6. the `jti` has not been seen before (replay), recorded until the token expires.
 * A failure is an {@link AuthFailure} whose `reason` is for the log only, never for the client.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { TrustedIssuer, TrustedIssuers } from './issuers';
import type { ReplayStore } from './replay';

/** Asymmetric signature algorithms only (ES384 and RS384 are the ones the spec recommends). */
export const ALLOWED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_JTI_CHARS = 256;

export type AuthFailureReason =
  | 'missing-authorization'
  | 'not-bearer'
  | 'malformed'
  | 'alg-not-allowed'
  | 'typ-not-jwt'
  | 'kid-missing'
  | 'iss-missing'
  | 'iss-not-trusted'
  | 'jku-not-allowlisted'
  | 'no-matching-key'
  | 'bad-signature'
  | 'aud-mismatch'
  | 'expired'
  | 'exp-too-far'
  | 'iat-invalid'
  | 'claim-missing'
  | 'claim-invalid'
  | 'tenant-not-allowed'
  | 'replayed'
  | 'key-error';

export class AuthFailure extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    /** Safe detail for the log (never the token, a key, or claim values other than `iss`). */
    readonly detail?: string,
    /** The claimed issuer, when it is a trusted one (safe to log). */
    readonly iss?: string,
  ) {
    super(`${reason}${detail ? `: ${detail}` : ''}`);
    this.name = 'AuthFailure';
  }
}

export interface VerifyOptions {
  issuers: TrustedIssuers;
  replay: ReplayStore;
  /** Acceptable audiences: the exact URL(s) of this request (one per accepted base URL). */
  audiences: readonly string[];
  clockSkewSeconds: number;
  maxLifetimeSeconds: number;
  now?: () => number;
}

export interface VerifiedToken {
  issuer: TrustedIssuer;
  iss: string;
  tenant?: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

/** Extracts the token from an `Authorization: Bearer <token>` header value. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === '') throw new AuthFailure('missing-authorization');
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  if (!m) throw new AuthFailure('not-bearer');
  return m[1]!;
}

function fail(reason: AuthFailureReason, detail?: string, iss?: string): never {
  throw new AuthFailure(reason, detail, iss);
}

export async function verifyClientJwt(token: string, opts: VerifyOptions): Promise<VerifiedToken> {
  if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) fail('malformed', 'not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    return fail('malformed', 'header or payload is not base64url JSON');
  }
  if (typeof header.alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(header.alg)) {
    fail('alg-not-allowed', `alg ${typeof header.alg === 'string' ? header.alg.slice(0, 16) : typeof header.alg}`);
  }
  if (typeof header.typ !== 'string' || !/^(application\/)?jwt$/i.test(header.typ)) fail('typ-not-jwt');
  if (typeof header.kid !== 'string' || header.kid === '') fail('kid-missing');
  if (typeof unverified.iss !== 'string' || unverified.iss === '') fail('iss-missing');
  const issuer = opts.issuers.get(unverified.iss);
  if (!issuer) fail('iss-not-trusted');
  const iss = issuer.iss;
  if (header.jku !== undefined && (typeof header.jku !== 'string' || (issuer.jku !== undefined && header.jku !== issuer.jku))) {
    // A jku other than the allowlisted one is refused and never fetched. Issuers configured with a static
    // JWKS only ignore the header (their keys never come from a URL).
    fail('jku-not-allowlisted', undefined, iss);
  }

  const nowSeconds = Math.floor((opts.now?.() ?? Date.now()) / 1000);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, issuer.getKey, {
      algorithms: [...ALLOWED_ALGORITHMS],
      issuer: iss,
      audience: [...opts.audiences],
      typ: 'JWT',
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
      clockTolerance: opts.clockSkewSeconds,
      maxTokenAge: opts.maxLifetimeSeconds,
      currentDate: new Date(nowSeconds * 1000),
    }));
  } catch (err) {
    return fail(...classify(err), iss);
  }

  const exp = payload.exp!;
  if (exp - nowSeconds > opts.maxLifetimeSeconds + opts.clockSkewSeconds) fail('exp-too-far', `exp ${exp - nowSeconds} s ahead`, iss);
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_CHARS) fail('claim-invalid', 'jti', iss);
  if (payload.tenant !== undefined && typeof payload.tenant !== 'string') fail('claim-invalid', 'tenant', iss);
  const tenant = payload.tenant as string | undefined;
  if (issuer.tenants && (tenant === undefined || !issuer.tenants.includes(tenant))) fail('tenant-not-allowed', undefined, iss);

  // Last, so that only tokens that are otherwise valid use up a jti.
  const fresh = await opts.replay.claim(replayKey(iss, jti), exp + opts.clockSkewSeconds);
  if (!fresh) fail('replayed', undefined, iss);
  return { issuer, iss, exp, ...(tenant !== undefined ? { tenant } : {}) };
}

/** The replay-store key of a token: a hash of issuer and jti (bounded length, nothing readable). */
export function replayKey(iss: string, jti: string): string {
  return createHash('sha256').update(iss).update('\0').update(jti).digest('base64url');
}

function classify(err: unknown): [AuthFailureReason, string?] {
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? ['iat-invalid', 'too old'] : ['expired'];
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return ['claim-missing', err.claim];
    if (err.claim === 'aud') return ['aud-mismatch'];
    if (err.claim === 'iat') return ['iat-invalid'];
    if (err.claim === 'typ') return ['typ-not-jwt'];
    return ['claim-invalid', err.claim];
  }
  if (err instanceof errors.JWKSNoMatchingKey) return ['no-matching-key'];
  if (err instanceof errors.JWSSignatureVerificationFailed) return ['bad-signature'];
  if (err instanceof errors.JOSEAlgNotAllowed) return ['alg-not-allowed'];
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return ['malformed', (err as Error).message.slice(0, 120)];
  if (err instanceof errors.JOSEError) return ['key-error', err.code];
  return ['key-error', err instanceof Error ? err.name : 'unknown'];
}
