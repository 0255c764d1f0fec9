/** Support for the conformance-suite tests: client key pairs written as the suite's `--key` file, free ports. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { CheckResult, ConformanceReport } from '../../src/conformance';

export interface ClientKeys {
  /** Private JWKS file (mode 0600): what `--key` is given. */
  file: string;
  /** The public keys, for the target's trust configuration. */
  publicJwks: { keys: JWK[] };
  dir: string;
}

/** An ES384 and an RS384 key pair (item 48 checks both), plus any private JWKs given (e.g. the development issuer's). */
export async function makeClientKeys(extraPrivate: JWK[] = []): Promise<ClientKeys> {
  const privates: JWK[] = [...extraPrivate];
  for (const alg of ['ES384', 'RS384'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    privates.push({ ...(await exportJWK(privateKey)), kid: `conformance-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`, alg, use: 'sig' });
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-conformance-'));
  const file = path.join(dir, 'client-keys.jwks.json');
  writeFileSync(file, JSON.stringify({ keys: privates }), { mode: 0o600 });
  const publicJwks = {
    keys: privates.map((k) => Object.fromEntries(Object.entries(k).filter(([name]) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'].includes(name))) as JWK),
  };
  return { file, publicJwks, dir };
}

// The suite's FHIR server binds a free port, so the target can allowlist it.
export { freePort } from '../support/free-port';

export const byStatus = (report: ConformanceReport, status: CheckResult['status']) => [...new Set(report.results.filter((r) => r.status === status).map((r) => r.item))].sort((a, b) => a - b);

/** "25 FAIL: saw …" lines for a failed expectation message. */
export function describe(report: ConformanceReport, items?: number[]): string {
  return report.results
    .filter((r) => (items ? items.includes(r.item) : r.status !== 'PASS'))
    .map((r) => `${r.item} [${r.tag}] ${r.status}: ${[...r.details, ...r.notes].join(' | ')}`)
    .join('\n');
}
