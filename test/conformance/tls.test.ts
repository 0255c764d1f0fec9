/**
 * Item 56 (TLS 1.2 or later) against real https listeners with a throw-away self-signed certificate (openssl; the
 * test is skipped, with the reason printed, where it is missing): one that accepts TLS 1.2+ only passes, one that
 * still accepts TLS 1.0/1.1 fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runConformance } from '../../src/conformance';

let cert: { key: Buffer; cert: Buffer } | undefined;

beforeAll(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-conformance-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'pipe' });
    cert = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  } catch (err) {
    process.stdout.write(`SKIPPED test/conformance/tls.test.ts: no openssl to make a test certificate (${(err as Error).message.split('\n')[0]})\n`);
  }
});

async function item56(options: https.ServerOptions) {
  const server = https.createServer({ ...cert!, ...options }, (_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const report = await runConformance({ url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/cds-services`, only: [56] });
    return report.results[0]!;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

it('item 56: a listener with TLS 1.2 as its minimum passes', async () => {
  if (!cert) return;
  const r = await item56({ minVersion: 'TLSv1.2' });
  // SKIP only if this Node/OpenSSL cannot even offer TLS 1.1 (then the refusal cannot be observed).
  if (r.status === 'SKIP') expect(r.details[0]).toMatch(/cannot offer TLS 1\.1/);
  else expect([r.status, r.notes.join(' ')]).toEqual(['PASS', expect.stringMatching(/negotiates TLSv1\.3; a TLS 1\.0\/1\.1 handshake was refused/)]);
});

it('item 56: a listener that still accepts TLS 1.1 fails, saying which protocol it accepted', async () => {
  if (!cert) return;
  const r = await item56({ minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
  if (r.status === 'SKIP') expect(r.details[0]).toMatch(/cannot offer TLS 1\.1/);
  else expect([r.status, r.details.join(' ')]).toEqual(['FAIL', expect.stringMatching(/accepted a TLSv1(\.1)? handshake/)]);
});
