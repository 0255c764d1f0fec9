/**
 * Checklist item 56: production serves HTTPS only, TLS >= 1.2. TLS ends at the reverse proxy whose
 * configuration is deploy/proxy/nginx.conf (the deployment's compose file mounts it); the replicas speak HTTP
 * on the private network only. The configuration is checked as text always, and — where an `nginx` binary
 * and `openssl` exist — run for real in front of two service replicas: TLS 1.0/1.1 refused at the handshake,
 * TLS 1.2/1.3 accepted, HTTP redirected to HTTPS, only /cds-services public, requests spread over both
 * replicas, JWT audience = the public https URL.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { PROJECT_ROOT } from '../../src/config';
import { createLogger } from '../../src/logger';
import type { RunningServer } from '../../src/server';
import { freePort } from '../support/free-port';
import { startTestService } from '../support/service';
import { makeIssuer, tempDir, writeIssuersFile, type TestIssuer } from './support/issuers';

const CONF = path.join(PROJECT_ROOT, 'deploy', 'proxy', 'nginx.conf');
const conf = readFileSync(CONF, 'utf8');
const directives = conf.replace(/#.*$/gm, '');

describe('item 56: TLS is terminated by the reverse proxy (deploy/proxy/nginx.conf)', () => {
  it('item 56: TLS 1.2 and 1.3 only, HTTP redirected to HTTPS, two replicas behind it, only /cds-services public', () => {
    expect(directives).toMatch(/^\s*ssl_protocols\s+TLSv1\.2\s+TLSv1\.3\s*;/m);
    expect(directives).not.toMatch(/TLSv1(\.1)?\s|TLSv1(\.1)?;|SSLv[23]/);
    expect(directives).toMatch(/listen 443 ssl;/);
    expect(directives).toMatch(/listen 80;[\s\S]*?return 301 https:\/\/\$host\$request_uri;/);
    expect(directives.match(/^\s*server il6-cds-\d:8080\b/gm)).toHaveLength(2);
    expect(directives).toMatch(/location \/cds-services \{[\s\S]*?proxy_pass http:\/\/il6_cds;/);
    expect(directives).toMatch(/location \/ \{\s*return 404;/);
    expect(directives).toMatch(/Strict-Transport-Security/);
    expect(directives).not.toMatch(/ssl_certificate_key\s+[^/]/); // a mounted path, never inline key material
  });
});

// --- live run -------------------------------------------------------------------------------------------

const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const live = Boolean(nginxBin && haveOpenssl);
if (!live) console.warn(`SKIPPED item 56 live proxy test: ${nginxBin ? '' : 'no nginx binary'}${!nginxBin && !haveOpenssl ? ', ' : ''}${haveOpenssl ? '' : 'no openssl'} (the configuration checks above still ran).`);
const itLive = live ? it : it.skip;

let dir: string;
let nginx: ChildProcess | undefined;
let replicas: RunningServer[] = [];
const served = [0, 0];
let httpsPort = 0;
let httpPort = 0;
let cert = '';
let issuer: TestIssuer;
let publicBase = '';

function handshake(version: tls.SecureVersion): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: 'localhost', ca: cert, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
    socket.once('secureConnect', () => {
      const v = socket.getProtocol() ?? '?';
      socket.destroy();
      resolve(v);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
  });
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca: cert, headers: { host: `localhost:${u.port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('item 56: the proxy configuration, live (nginx in front of two replicas)', () => {
  beforeAll(async () => {
    if (!live) return;
    dir = tempDir('il6-cds-proxy-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', `${dir}/tls.key`, '-out', `${dir}/tls.crt`], { stdio: 'ignore' });
    cert = readFileSync(`${dir}/tls.crt`, 'utf8');
    [httpsPort, httpPort] = [await freePort(), await freePort()];
    publicBase = `https://localhost:${httpsPort}`;
    issuer = await makeIssuer('https://ehr-behind-proxy.example.test');
    const file = writeIssuersFile(dir, [{ iss: issuer.iss, jwks: issuer.jwks }]);
    replicas = await Promise.all(
      [0, 1].map((i) =>
        startTestService({
          config: { auth: 'required', trustedIssuersFile: file, publicBaseUrl: publicBase },
          logger: createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (c.toString().includes('"msg":"request"') && served[i]!++, cb()) })),
        }),
      ),
    );
    // The production file, with only what a test run must change: ports, certificate paths, writable paths.
    const testConf = conf
      .replace('server il6-cds-1:8080', `server 127.0.0.1:${new URL(replicas[0]!.url).port}`)
      .replace('server il6-cds-2:8080', `server 127.0.0.1:${new URL(replicas[1]!.url).port}`)
      .replace(/listen \[::\]:\d+( ssl)?;\n/g, '')
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`)
      .replace('ssl_certificate /etc/nginx/certs/tls.crt;', `ssl_certificate ${dir}/tls.crt;`)
      .replace('ssl_certificate_key /etc/nginx/certs/tls.key;', `ssl_certificate_key ${dir}/tls.key;`)
      .replace('access_log /dev/stdout;', `access_log ${dir}/access.log;`)
      .replace('error_log /dev/stderr warn;', `error_log ${dir}/error.log warn;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`)
      .replace('worker_processes auto;', `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;`);
    writeFileSync(`${dir}/nginx.conf`, testConf);
    nginx = spawn(nginxBin!, ['-p', dir, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nginx.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Ready when the TLS port accepts connections.
    for (let i = 0; ; i++) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
      const up = await new Promise<boolean>((r) => net.connect(httpsPort, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
      if (up) break;
      if (i > 100) throw new Error(`nginx did not listen: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGTERM');
      await exited;
    }
    await Promise.all(replicas.map((r) => r.close()));
  });

  itLive('item 56: TLS 1.0 and 1.1 are refused at the handshake; TLS 1.2 and 1.3 are accepted', async () => {
    expect(await handshake('TLSv1')).toMatch(/^refused: .*(ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)/i);
    expect(await handshake('TLSv1.1')).toMatch(/^refused: .*(ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)/i);
    expect(await handshake('TLSv1.2')).toBe('TLSv1.2');
    expect(await handshake('TLSv1.3')).toBe('TLSv1.3');
  });

  itLive('item 56: plain HTTP is redirected to HTTPS and serves nothing itself', async () => {
    const res = await get(`http://localhost:${httpPort}/cds-services`);
    expect(res.status).toBe(301);
    expect(res.headers.location).toMatch(/^https:\/\/localhost(:\d+)?\/cds-services$/);
  });

  itLive('item 56: through HTTPS a client JWT with aud = the public https URL reaches the replicas (both of them), HSTS once', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await get(`${publicBase}/cds-services`, { authorization: `Bearer ${await issuer.sign({ aud: `${publicBase}/cds-services` })}` });
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    }
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
    const noToken = await get(`${publicBase}/cds-services`);
    expect(noToken.status).toBe(401);
    // aud naming the replica's own http address (what a Host-header-trusting service would accept) is refused.
    const local = await get(`${publicBase}/cds-services`, { authorization: `Bearer ${await issuer.sign({ aud: `${replicas[0]!.url}/cds-services` })}` });
    expect(local.status).toBe(401);
  });

  itLive('item 56: health and metrics endpoints are not reachable through the proxy', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/']) expect((await get(`${publicBase}${p}`)).status).toBe(404);
  });
});
