/**
 * /healthz and /readyz with stores that are really down: the SQLite store closed under the running service,
 * and PostgreSQL behind a TCP proxy that is stopped and started again. While shutting down, /readyz answers 503
 * on a connection that was already open.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { createApp } from '../../src/app';
import { silentLogger } from '../../src/logger';
import { loadServices } from '../../src/services/registry';
import { startTestFhirServer } from '../../src/test-fhir-server';
import { hookRequest } from '../support/cds-client';
import { startTestService, testConfig } from '../support/service';
import { PG_URL, postgresBackend } from '../feedback/backends';

interface Outcome {
  resourceType: string;
  issue: { severity: string; code: string; diagnostics: string; expression?: string[] }[];
}

async function readyz(url: string): Promise<{ status: number; body: Outcome & { status?: string; checks?: { name: string; ok: boolean }[] } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

it('/healthz is 200; /readyz is 200 with its checks while rules are loaded and the store answers', async () => {
  const s = await startTestService();
  try {
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const r = await readyz(s.url);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ready');
    expect(r.body.checks!.map((c) => [c.name, c.ok])).toEqual([
      ['rules', true],
      ['store', true],
    ]);
  } finally {
    await s.close();
  }
});

it('/readyz is 503 with an OperationOutcome naming the store when the SQLite store is closed; /healthz stays 200', async () => {
  const s = await startTestService();
  try {
    expect((await readyz(s.url)).status).toBe(200);
    await s.store.close();
    const r = await readyz(s.url);
    expect(r.status).toBe(503);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue).toEqual([{ severity: 'error', code: 'transient', expression: ['store'], diagnostics: 'Not ready: the sqlite store (card history and feedback) cannot be reached.' }]);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  } finally {
    await s.close();
  }
});

const pgIt = postgresBackend.available ? it : it.skip;
if (!postgresBackend.available) console.warn(`readiness with PostgreSQL skipped: ${postgresBackend.reason}`);

pgIt('/readyz follows PostgreSQL: 503 while the database cannot be reached, 200 again when it is back', async () => {
  const target = new URL(PG_URL);
  const proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
  const schema = `il6_ready_${process.pid}_${randomBytes(4).toString('hex')}`;
  const viaProxy = new URL(PG_URL);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const s = await startTestService({ config: { databaseUrl: viaProxy.toString(), databaseSchema: schema, databasePoolMax: 2 } });
  try {
    expect((await readyz(s.url)).status).toBe(200);
    await proxy.stop();
    const down = await readyz(s.url);
    expect(down.status).toBe(503);
    expect(down.body.issue[0]!.expression).toEqual(['store']);
    expect(down.body.issue[0]!.diagnostics).toMatch(/^Not ready: the postgres store \(card history and feedback\) (cannot be reached|did not answer within 2000 ms)\.$/);
    expect(JSON.stringify(down.body)).not.toContain(String(proxy.port)); // no host, port or credentials
    await proxy.start();
    await expect(eventually(async () => (await readyz(s.url)).status, 200)).resolves.toBe(200);
  } finally {
    await s.close();
    await proxy.stop();
    const c = new Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}, 30_000);

it('/readyz is 503 "shutting down" once shutdown has begun', async () => {
  const registry = loadServices(testConfig().servicesDir, { profile: 'default' });
  const lifecycle = { draining: false };
  const app = createApp({ config: testConfig(), logger: silentLogger, registry, lifecycle });
  expect((await request(app).get('/readyz')).status).toBe(200);
  lifecycle.draining = true;
  const during = await request(app).get('/readyz');
  expect(during.status).toBe(503);
  expect((during.body as Outcome).issue).toEqual([{ severity: 'error', code: 'transient', expression: ['shutdown'], diagnostics: 'Not ready: the service is shutting down.' }]);
});

it('close(): the call in flight completes with Connection: close, new connections are refused', async () => {
  const fhir = await startTestFhirServer();
  const s = await startTestService({ config: { fhirTimeoutMs: 5000 } });
  try {
    fhir.setFault({ stallMs: 800 });
    const hook = post(`${s.url}/cds-services/il6-inflammation`, hookRequest('p1', { fhirServer: fhir.baseUrl }));
    await eventually(async () => fhir.requests.length > 0, true);
    const closing = s.close();
    await expect(fetch(`${s.url}/healthz`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    const done = await hook;
    expect(done.status).toBe(200);
    expect(done.connection).toBe('close');
    await closing;
  } finally {
    await s.close();
    await fhir.stop();
  }
});

async function eventually<T>(probe: () => Promise<T>, want: T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got === want || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function post(url: string, body: unknown): Promise<{ status: number; connection: string | null }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.text();
  return { status: res.status, connection: res.headers.get('connection') };
}

/** A TCP proxy to host:port on a fixed loopback port that can be stopped (refusing and cutting connections) and started again. */
async function tcpProxy(host: string, port: number): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let listenPort = 0;
  const start = async () => {
    server = net.createServer((client) => {
      const upstream = net.connect(port, host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server!.listen(listenPort, '127.0.0.1', resolve));
    listenPort = (server.address() as net.AddressInfo).port;
  };
  const stop = async () => {
    if (!server) return;
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    await new Promise((resolve) => s.close(resolve));
  };
  await start();
  return { port: listenPort, stop, start };
}

it('/readyz is 503 naming the replay store when Redis (REDIS_URL) does not answer: every authenticated call would fail', async () => {
  // A port nothing listens on: taken, then released.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const s = await startTestService({ config: { auth: 'required', redisUrl: `redis://127.0.0.1:${port}` } });
  try {
    const r = await readyz(s.url);
    expect(r.status).toBe(503);
    expect(r.body.issue).toEqual([
      { severity: 'error', code: 'transient', expression: ['replay'], diagnostics: 'Not ready: the redis JWT replay store cannot be reached: authenticated calls are refused.' },
    ]);
  } finally {
    await s.close();
  }
}, 20_000);
