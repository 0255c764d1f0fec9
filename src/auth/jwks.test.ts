import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { remoteKeySet, sanitizeJwks, type KeySetEvent } from './jwks';

describe('sanitizeJwks', () => {
  it('keeps only the public members of RSA and EC signature keys', async () => {
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    const priv = { ...(await exportJWK(privateKey)), kid: 'k1' };
    const out = sanitizeJwks({ keys: [priv, { kty: 'oct', k: 'c2VjcmV0', kid: 'h' }, { kty: 'EC', use: 'enc', kid: 'e', crv: 'P-256', x: 'a', y: 'b' }, null, 'x'] });
    expect(out.keys).toHaveLength(1);
    expect(out.keys[0]).not.toHaveProperty('d');
    expect(out.keys[0]).toMatchObject({ kty: 'EC', kid: 'k1', crv: 'P-384' });
    expect(() => sanitizeJwks({ nope: [] })).toThrow(/not a JWKS/);
  });
});

describe('remoteKeySet', () => {
  let server: http.Server;
  let base: string;
  const hits: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/big' }).end();
      if (req.url === '/big') return void res.writeHead(200).end(JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) }));
      if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end('{"keys":[]}'), 2_000);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

  async function attempt(path: string, timeoutMs = 1_000): Promise<KeySetEvent[]> {
    const events: KeySetEvent[] = [];
    const set = remoteKeySet(`${base}${path}`, { timeoutMs, maxAgeMs: 60_000, minRefreshMs: 60_000, onEvent: (e) => events.push(e) });
    await expect(set.find({ alg: 'ES384', kid: 'k' }, { payload: '', signature: '' } as never)).resolves.toBeUndefined();
    return events;
  }

  it('never follows a redirect', async () => {
    const events = await attempt('/redirect');
    expect(events[0]).toMatchObject({ ok: false });
    expect(hits).not.toContain('/big');
  });

  it('refuses a JWKS larger than the cap', async () => {
    expect((await attempt('/big'))[0]).toMatchObject({ ok: false, reason: expect.stringMatching(/larger than/) });
  });

  it('gives up at the timeout', async () => {
    const started = Date.now();
    expect((await attempt('/slow', 200))[0]).toMatchObject({ ok: false });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('a failed load is rate-limited like a successful one (one request per minRefreshMs)', async () => {
    const before = hits.filter((h) => h === '/missing').length;
    const set = remoteKeySet(`${base}/missing`, { timeoutMs: 1_000, maxAgeMs: 60_000, minRefreshMs: 60_000 });
    for (let i = 0; i < 5; i++) await set.find({ alg: 'ES384', kid: 'k' }, { payload: '', signature: '' } as never);
    expect(hits.filter((h) => h === '/missing').length - before).toBe(1);
  });
});
