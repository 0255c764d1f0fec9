/**
 * The fallback's GET against a small real HTTP server misbehaving in the ways a FHIR server can: redirects
 * (never followed), oversized answers (declared or not, compressed or not), compressed answers, answers cut
 * off, a stall past the deadline, and idle keep-alive sockets the server closes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync, deflateSync } from 'node:zlib';
import { BodyTooLargeError } from '../http/read-capped';
import { CutOffError, httpGet } from './http-get';

const requests: string[] = [];
const served = new WeakSet<object>();
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url!);
    // A reused connection is dropped without an answer: the race of a server closing an idle keep-alive socket.
    if (req.url === '/drop-reused' && served.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    const json = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: Array.from({ length: 50 }, (_, i) => ({ resource: { resourceType: 'Observation', id: `o${i}` } })) });
    switch (req.url) {
      case '/redirect':
        res.writeHead(302, { location: `${base}/elsewhere` }).end();
        return;
      case '/big-declared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 5000 }).end('x'.repeat(5000));
        return;
      case '/big-chunked':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('x'.repeat(3000));
        res.end('x'.repeat(3000));
        return;
      case '/gzip-bomb':
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(1_000_000, 32)));
        return;
      case '/gzip':
        if (!/gzip/.test(String(req.headers['accept-encoding']))) throw new Error('gzip not accepted');
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(json));
        return;
      case '/deflate':
        res.writeHead(200, { 'content-encoding': 'deflate' }).end(deflateSync(json));
        return;
      case '/cut':
        res.writeHead(200, { 'content-length': 1000 });
        res.write('{"resourceType":');
        setTimeout(() => res.destroy(), 20);
        return;
      case '/stall':
        setTimeout(() => res.end('{}'), 5000).unref();
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(json);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const get = (path: string, maxBytes = 4096, signal = AbortSignal.timeout(3000)) => httpGet(`${base}${path}`, { headers: { accept: 'application/json' }, signal, maxBytes, wantBody: (s) => s === 200 });

it('answers the status and the body', async () => {
  const a = await get('/ok', 1 << 20);
  expect(a.status).toBe(200);
  expect(JSON.parse(a.text).entry).toHaveLength(50);
});

it('never follows a redirect: the 302 is the answer, its target is never asked', async () => {
  requests.length = 0;
  expect(await get('/redirect')).toEqual({ status: 302, text: '' });
  expect(requests).toEqual(['/redirect']);
});

it.each(['/big-declared', '/big-chunked', '/gzip-bomb'])('refuses an answer larger than the cap: %s', async (path) => {
  await expect(get(path)).rejects.toBeInstanceOf(BodyTooLargeError);
});

it.each(['/gzip', '/deflate'])('decodes a compressed answer: %s', async (path) => {
  expect(JSON.parse((await get(path, 1 << 20)).text).entry).toHaveLength(50);
});

it('fails an answer cut off by the server, and one that is not done by the deadline', async () => {
  await expect(get('/cut')).rejects.toBeInstanceOf(CutOffError);
  const started = Date.now();
  await expect(get('/stall', 4096, AbortSignal.timeout(200))).rejects.toMatchObject({ name: 'AbortError' });
  expect(Date.now() - started).toBeLessThan(2000);
});

it('retries once on a new connection when the server drops the keep-alive socket it reused', async () => {
  expect((await get('/ok', 1 << 20)).status).toBe(200); // leaves its socket in the agent's pool
  requests.length = 0;
  expect((await get('/drop-reused', 1 << 20)).status).toBe(200);
  expect(requests).toEqual(['/drop-reused', '/drop-reused']);
});
