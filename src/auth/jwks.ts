/**
 * Public keys of trusted issuers. One issuer has one or more key sets, tried in order:
 *   - inline: a JWKS built into the service (the public CDS Hooks sandbox's, for offline development);
 *   - file: a JWKS file (`jwksFile`), re-read when a token names a `kid` it does not hold, so keys can be
 *     rotated by replacing the file;
 *   - remote: an allowlisted `jku` URL, fetched with a timeout and a size cap, never through a redirect,
 *     cached for `maxAgeMs`, and re-fetched when a token names an unknown `kid`.
 * Every reload (file or remote, success or failure) is rate-limited to one per `minRefreshMs` per key set,
 * so a stream of tokens with made-up `kid`s cannot make the service hammer an issuer's JWKS endpoint.
 * Only public signature keys (RSA, EC) are kept; anything else in a JWKS is dropped.
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';
import { BodyTooLargeError, readCapped } from '../http/read-capped';

type Key = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>;
export type GetKey = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<Key>;

export interface RefreshPolicy {
  /** Keys older than this are reloaded before use (remote key sets). */
  maxAgeMs: number;
  /** At most one reload per this interval. */
  minRefreshMs: number;
}

/** What happened when a key set was (re)loaded; for the log. Never contains key material. */
export interface KeySetEvent {
  source: string;
  ok: boolean;
  keys?: number;
  reason?: string;
}

export interface KeySet {
  readonly label: string;
  /** The matching key, or undefined when this set holds none for the header's kid/alg. */
  find(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key | undefined>;
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'kid', 'use', 'alg', 'key_ops', 'n', 'e'],
  EC: ['kty', 'kid', 'use', 'alg', 'key_ops', 'crv', 'x', 'y'],
};

/** Keeps only public RSA/EC signature keys, and only their public members. Throws if the shape is wrong. */
export function sanitizeJwks(value: unknown): JSONWebKeySet {
  if (!value || typeof value !== 'object' || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error('not a JWKS (an object with a "keys" array)');
  }
  const keys: JWK[] = [];
  for (const k of (value as { keys: unknown[] }).keys) {
    if (!k || typeof k !== 'object') continue;
    const jwk = k as Record<string, unknown>;
    const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined;
    if (!members || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
    keys.push(Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as JWK);
  }
  return { keys };
}

class CachedKeySet implements KeySet {
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<boolean> | undefined;

  constructor(
    readonly label: string,
    private readonly load: () => Promise<unknown>,
    private readonly policy: RefreshPolicy,
    private readonly onEvent: (e: KeySetEvent) => void,
    private readonly now: () => number,
  ) {}

  async find(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key | undefined> {
    if (!this.keys || this.now() - this.loadedAt > this.policy.maxAgeMs) await this.reload();
    const key = await this.match(header, token);
    if (key !== undefined) return key;
    // Unknown kid: perhaps the issuer rotated its keys. Reload (rate-limited) and look again.
    return (await this.reload()) ? this.match(header, token) : undefined;
  }

  private async match(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key | undefined> {
    if (!this.keys) return undefined;
    try {
      return await this.keys(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) return undefined;
      throw err; // JWKSMultipleMatchingKeys is handled by jwtVerify; anything else fails the token
    }
  }

  /** Resolves true when new keys were loaded by this or a concurrent call. */
  private reload(): Promise<boolean> {
    if (this.pending) return this.pending;
    if (this.now() - this.attemptedAt < this.policy.minRefreshMs) return Promise.resolve(false);
    this.attemptedAt = this.now();
    this.pending = (async () => {
      try {
        const jwks = sanitizeJwks(await this.load());
        this.keys = createLocalJWKSet(jwks);
        this.loadedAt = this.now();
        this.onEvent({ source: this.label, ok: true, keys: jwks.keys.length });
        return true;
      } catch (err) {
        // Stale keys stay in use: an unreachable JWKS endpoint must not lock out an issuer whose keys we hold.
        this.onEvent({ source: this.label, ok: false, reason: (err as Error).message.slice(0, 200) });
        return false;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}

export interface KeySetOptions extends RefreshPolicy {
  onEvent?: (e: KeySetEvent) => void;
  now?: () => number;
}

const noop = () => {};

/** A JWKS built into the service. Never reloaded. */
export function inlineKeySet(label: string, jwks: unknown, opts: KeySetOptions): KeySet {
  const frozen = sanitizeJwks(jwks);
  return new CachedKeySet(label, () => Promise.resolve(frozen), { maxAgeMs: Number.POSITIVE_INFINITY, minRefreshMs: Number.POSITIVE_INFINITY }, opts.onEvent ?? noop, opts.now ?? Date.now);
}

/** A JWKS file, read at first use and re-read (rate-limited) when a token names a kid it does not hold. */
export function fileKeySet(file: string, opts: KeySetOptions): KeySet {
  return new CachedKeySet(
    `file:${file}`,
    async () => JSON.parse(await readFile(file, 'utf8')) as unknown,
    { maxAgeMs: Number.POSITIVE_INFINITY, minRefreshMs: opts.minRefreshMs },
    opts.onEvent ?? noop,
    opts.now ?? Date.now,
  );
}

export interface RemoteKeySetOptions extends KeySetOptions {
  timeoutMs: number;
  /** Largest JWKS response accepted. Default 256 KiB. */
  maxBytes?: number;
  fetch?: typeof fetch;
}

/** A JWKS at an allowlisted URL (`jku`). */
export function remoteKeySet(url: string, opts: RemoteKeySetOptions): KeySet {
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  const doFetch = opts.fetch ?? fetch;
  return new CachedKeySet(
    `jku:${url}`,
    async () => {
      const res = await doFetch(url, {
        method: 'GET',
        redirect: 'error',
        signal: AbortSignal.timeout(opts.timeoutMs),
        headers: { accept: 'application/jwk-set+json, application/json' },
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      try {
        return JSON.parse(await readCapped(res, maxBytes)) as unknown;
      } catch (err) {
        if (err instanceof BodyTooLargeError) throw new Error(`JWKS larger than ${maxBytes} bytes`);
        throw err;
      }
    },
    opts,
    opts.onEvent ?? noop,
    opts.now ?? Date.now,
  );
}

/** The key sets of one issuer as a jose key getter: the first set that holds a matching key wins. */
export function keyGetter(sets: readonly KeySet[]): GetKey {
  return async (header, token) => {
    for (const set of sets) {
      const key = await set.find(header, token);
      if (key !== undefined) return key;
    }
    throw new errors.JWKSNoMatchingKey();
  };
}
