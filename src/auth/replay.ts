/**
 * Replay protection (checklist item 52): a token's `jti` is accepted once within the token's lifetime.
 * In memory by default (one process); with `REDIS_URL` the set of seen `jti`s lives in Redis, so that
 * several replicas behind a load balancer refuse a token any of them has already accepted.
 * Keys are hashes of issuer and `jti` (see `replayKey`); each expires with its token.
 */
import type Redis from 'ioredis';
import { ConfigError } from '../config';

export interface ReplayStore {
  /**
   * Records `key` until `expiresAtSeconds` (epoch seconds). Resolves true if the key was new, false if it
   * had been recorded before and has not expired. Rejects if the store cannot answer (fail closed).
   */
  claim(key: string, expiresAtSeconds: number): Promise<boolean>;
  /** Resolves when the store answers (readiness: without it no authenticated call succeeds); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

export interface MemoryReplayOptions {
  /** Most keys held; past it new tokens are refused until old ones expire. Default 1,000,000. */
  maxEntries?: number;
  now?: () => number;
}

/** One process's replay store: a map of key → expiry, swept of expired keys as it grows. */
export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory';
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: MemoryReplayOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1_000_000;
    this.now = opts.now ?? Date.now;
  }

  claim(key: string, expiresAtSeconds: number): Promise<boolean> {
    const now = this.now();
    const known = this.seen.get(key);
    if (known !== undefined && known > now) return Promise.resolve(false);
    if (this.seen.size >= this.maxEntries || now - this.lastSweep > 60_000) this.sweep(now);
    if (this.seen.size >= this.maxEntries) return Promise.reject(new Error('replay store is full'));
    this.seen.set(key, expiresAtSeconds * 1000);
    return Promise.resolve(true);
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.seen.clear();
    return Promise.resolve();
  }
}

export const REDIS_KEY_PREFIX = 'il6-cds:jti:';

export interface RedisReplayOptions {
  /** Called on connection state changes (never with the URL, which may hold a password). */
  onState?: (state: 'ready' | 'error' | 'end', detail?: string) => void;
  now?: () => number;
}

/** The shared replay store: `SET key 1 NX PX ttl` in Redis. */
export class RedisReplayStore implements ReplayStore {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly now: () => number;
  private errored = false;

  constructor(url: string, opts: RedisReplayOptions = {}) {
    this.now = opts.now ?? Date.now;
    // Loaded only when REDIS_URL is set: it costs start-up time everywhere else.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { default: RedisClient } = require('ioredis') as typeof import('ioredis');
    this.redis = new RedisClient(url, {
      lazyConnect: false,
      connectTimeout: 2_000,
      commandTimeout: 1_000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
    });
    this.redis.on('ready', () => {
      this.errored = false;
      opts.onState?.('ready');
    });
    // Log each outage once, not every retry; the message is ioredis's (host:port), never the URL.
    this.redis.on('error', (err: Error) => {
      if (!this.errored) opts.onState?.('error', err.message.slice(0, 200));
      this.errored = true;
    });
    this.redis.on('end', () => opts.onState?.('end'));
  }

  async claim(key: string, expiresAtSeconds: number): Promise<boolean> {
    const ttlMs = Math.max(1_000, expiresAtSeconds * 1000 - this.now());
    const res = await this.redis.set(`${REDIS_KEY_PREFIX}${key}`, '1', 'PX', ttlMs, 'NX');
    return res === 'OK';
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    // Not connected (Redis down): QUIT would wait in the offline queue and the reconnect timer keep the process alive.
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

export function createReplayStore(redisUrl: string | undefined, opts: RedisReplayOptions = {}): ReplayStore {
  if (!redisUrl) return new MemoryReplayStore({ now: opts.now });
  if (!/^rediss?:\/\/[^/]/i.test(redisUrl)) {
    throw new ConfigError('Setting REDIS_URL is invalid: expected redis://[user:password@]host:port[/db] or rediss://…');
  }
  return new RedisReplayStore(redisUrl, opts);
}
