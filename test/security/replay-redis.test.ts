/**
 * Checklist item 52 across replicas: two real service processes (as behind a load balancer: the same
 * PUBLIC_BASE_URL, the same issuers) share the seen-`jti` set in Redis (REDIS_URL), so a token accepted by one
 * is refused by the other. Needs Redis at 127.0.0.1:6379 (REDIS_TEST_URL overrides); without it the test is
 * skipped with a printed reason.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { RedisReplayStore, REDIS_KEY_PREFIX } from '../../src/auth/replay';
import { replayKey } from '../../src/auth/verify';
import { signDevToken } from '../../src/auth';
import { startTestService } from '../support/service';
import { call, makeIssuer, tempDir, writeIssuersFile, type TestIssuer } from './support/issuers';
import { startServiceProcess, type ServiceProcess } from './support/process';

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
const PUBLIC_BASE_URL = 'https://cds.example.test';

/**
 * Whether something answers PING with PONG at the Redis URL within a second. Synchronous (a child process), so
 * that the decision is made while jest collects the tests and an unavailable Redis shows as skipped tests.
 */
function redisAvailable(url: string): boolean {
  const u = new URL(url);
  const probe = `const s=require('net').connect(${Number(u.port || 6379)},${JSON.stringify(u.hostname)});s.setTimeout(1000,()=>process.exit(1));s.on('error',()=>process.exit(1));s.on('connect',()=>s.write('PING\\r\\n'));s.on('data',d=>process.exit(String(d).startsWith('+PONG')?0:1));`;
  return spawnSync(process.execPath, ['-e', probe], { timeout: 3_000 }).status === 0;
}

const available = redisAvailable(REDIS_URL);
if (!available) {
  console.warn(`SKIPPED item 52 (replay across replicas): no Redis answers at ${REDIS_URL}. Start Redis there or set REDIS_TEST_URL to run these tests.`);
}
const itRedis = available ? it : it.skip;

let issuer: TestIssuer;
let a: ServiceProcess | undefined;
let b: ServiceProcess | undefined;

beforeAll(async () => {
  if (!available) return;
  issuer = await makeIssuer('https://ehr-replicas.example.test');
  const dir = tempDir();
  const file = writeIssuersFile(dir, [{ iss: issuer.iss, jwks: issuer.jwks }]);
  const env = (n: string) => ({ AUTH: 'required', TRUSTED_ISSUERS_FILE: file, PUBLIC_BASE_URL, REDIS_URL, DATA_DIR: `${dir}/data-${n}`, CARD_HISTORY: 'off' });
  [a, b] = await Promise.all([startServiceProcess(env('a')), startServiceProcess(env('b'))]);
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('item 52: replay protection shared through Redis', () => {
  itRedis('item 52: a token used on one replica is refused by the other (two processes sharing Redis)', async () => {
    const aud = `${PUBLIC_BASE_URL}/cds-services`;
    const t1 = await issuer.sign({ aud });
    expect((await call(`${a!.url}/cds-services`, { token: t1 })).status).toBe(200);
    expect((await call(`${b!.url}/cds-services`, { token: t1 })).status).toBe(401);
    expect((await call(`${a!.url}/cds-services`, { token: t1 })).status).toBe(401);
    // The other way round, and fresh tokens keep working on both.
    const t2 = await issuer.sign({ aud });
    expect((await call(`${b!.url}/cds-services`, { token: t2 })).status).toBe(200);
    expect((await call(`${a!.url}/cds-services`, { token: t2 })).status).toBe(401);
    expect((await call(`${a!.url}/cds-services`, { token: await issuer.sign({ aud }) })).status).toBe(200);
    expect((await call(`${b!.url}/cds-services`, { token: await issuer.sign({ aud }) })).status).toBe(200);
    // Both replicas said they use the shared store.
    for (const p of [a!, b!]) expect(p.lines.some((l) => l.includes('"replayStore":"redis"'))).toBe(true);
  });

  itRedis('item 52: concurrent use of one token on both replicas: exactly one succeeds', async () => {
    const aud = `${PUBLIC_BASE_URL}/cds-services`;
    for (let i = 0; i < 5; i++) {
      const token = await issuer.sign({ aud });
      const statuses = await Promise.all([call(`${a!.url}/cds-services`, { token }), call(`${b!.url}/cds-services`, { token })]).then((r) => r.map((x) => x.status).sort());
      expect(statuses).toEqual([200, 401]);
    }
  });

  itRedis('the seen-jti key expires with the token (TTL ≈ exp − now + skew) and holds a hash, not the jti', async () => {
    const store = new RedisReplayStore(REDIS_URL);
    try {
      const jti = randomUUID();
      const key = replayKey('https://iss.example', jti);
      const exp = Math.floor(Date.now() / 1000) + 120;
      expect(await store.claim(key, exp)).toBe(true);
      expect(await store.claim(key, exp)).toBe(false);
      const Redis = (await import('ioredis')).default;
      const r = new Redis(REDIS_URL);
      try {
        const ttl = await r.pttl(`${REDIS_KEY_PREFIX}${key}`);
        expect(ttl).toBeGreaterThan(100_000);
        expect(ttl).toBeLessThanOrEqual(120_000);
        expect(key).not.toContain(jti);
      } finally {
        r.disconnect();
      }
    } finally {
      await store.close();
    }
  });

  it('item 52: an unreachable Redis fails closed — 503 (not the client\'s fault), never an unchecked 200 or a 500', async () => {
    const svc = await startTestService({ config: { auth: 'required', redisUrl: 'redis://127.0.0.1:1' } });
    try {
      const url = `${svc.url}/cds-services`;
      const res = await call(url, { token: await signDevToken({ aud: url }) });
      expect(res.status).toBe(503);
      expect((res.body as { resourceType: string }).resourceType).toBe('OperationOutcome');
      // A token that fails on its own is still 401: authentication is decided before the replay store.
      expect((await call(url, { token: await signDevToken({ aud: `${url}/x` }) })).status).toBe(401);
    } finally {
      await svc.close();
    }
  });
});
