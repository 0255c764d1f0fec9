/**
 * The real compiled CLI (`node bin/il6-cds.js …`, what `npx il6-cds` runs) as a child process: load and fire
 * against the test FHIR server and a service on loopback, validate-rules on good and broken rule files, and
 * failures that end with a readable message and a non-zero exit code.
 */
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { listFixtures } from '../../src/fixtures/catalog';
import type { RunningServer } from '../../src/server';
import { openStore } from '../../src/store';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { postgresBackend } from '../feedback/backends';
import { findingCodes } from '../support/cds-client';
import { startTestService } from '../support/service';
import { CLI_JS, ensureBuilt, ROOT, runNode } from './support';

const fixture = listFixtures().find((f) => f.slug === 'persistent-20-days-apart')!;
let fhir: TestFhirServer;
let service: RunningServer;
let tmp: string;

beforeAll(async () => {
  ensureBuilt();
  fhir = await startTestFhirServer();
  service = await startTestService({ config: { auth: 'required' } });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-cli-'));
}, 300_000);

afterAll(async () => {
  await service?.close();
  await fhir?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it('il6-cds load prints the patient ids; il6-cds fire prints the cards readably and --json prints the raw response', async () => {
  const load = await runNode([CLI_JS, 'load', '--fhir', fhir.baseUrl, '--only', fixture.slug, '--prefix', 'smoke']);
  expect(load.stderr).toBe('');
  expect(load.code).toBe(0);
  const id = `smoke-${fixture.expected.patient}`;
  expect(load.stdout).toContain(id);
  expect(load.stdout).toContain(`il6-cds fire --patient ${id} --fhir ${fhir.baseUrl}`);

  const fire = await runNode([CLI_JS, 'fire', '--patient', id, '--fhir', fhir.baseUrl, '--url', service.url]);
  expect(fire.stderr).toBe('');
  expect(fire.code).toBe(0);
  expect(fire.stdout).toMatch(/\[WARNING\] IL-6 5\.1 pg\/mL on \d{4}-\d{2}-\d{2}: elevated again/);
  expect(fire.stdout).toContain('finding il6-persistent');
  expect(fire.stdout).toContain('Results used');
  expect(fire.stdout).toContain('Suggestions');
  expect(fire.stdout).toContain('Override reasons: ');
  expect(fire.stdout).not.toMatch(/\x1b\[/); // no colour when stdout is not a terminal

  const json = await runNode([CLI_JS, 'fire', '--patient', id, '--fhir', fhir.baseUrl, '--url', service.url, '--no-prefetch', '--json']);
  expect(json.code).toBe(0);
  expect(findingCodes(JSON.parse(json.stdout) as CdsResponse)).toEqual([...fixture.expected.findings].sort());
}, 60_000);

it('fire fails with a readable message and exit code 1 when the service cannot be reached or refuses', async () => {
  const closed = await closedPort();
  const refused = await runNode([CLI_JS, 'fire', '--patient', 'x', '--fhir', fhir.baseUrl, '--url', `http://127.0.0.1:${closed}`]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe(`il6-cds: cannot reach the CDS service: http://127.0.0.1:${closed}: connection refused (is it running?)\n`);
  expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace

  const missing = await runNode([CLI_JS, 'fire', '--patient', 'x', '--fhir', fhir.baseUrl, '--url', service.url, '--service', 'nope']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('offers no service "nope"; it offers: il6-inflammation');
});

it('fire with a patient id the FHIR server does not have says so and exits 1, instead of printing "No cards"', async () => {
  for (const extra of [[], ['--no-prefetch'], ['--json']]) {
    const res = await runNode([CLI_JS, 'fire', '--patient', 'il6cds-no-such-patient', '--fhir', fhir.baseUrl, '--url', service.url, ...extra]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `il6-cds: patient "il6cds-no-such-patient" was not found on ${fhir.baseUrl} (it has no Patient/il6cds-no-such-patient): check --patient and --fhir; ` +
        '`il6-cds load` prints the ids it loaded, with its --prefix in front\n',
    );
  }
}, 60_000);

it('validate-rules: exit 0 with one line per service for good rule files', async () => {
  const good = await runNode([CLI_JS, 'validate-rules']);
  expect(good.code).toBe(0);
  expect(good.stdout).toMatch(/^ok {4}cds-services\/il6-inflammation {2}\(il6-inflammation \d+\.\d+\.\d+; profiles default, longevity; \d+ findings\)/m);
  const more = await runNode([CLI_JS, 'validate-rules', 'test/fixtures/services', 'cds-services/il6-inflammation/rules.yaml']);
  expect(more.code).toBe(0);
  expect(more.stdout).toContain('ok    test/fixtures/services/hscrp-advisor');
  expect(more.stdout).toContain('ok    cds-services/il6-inflammation/rules.yaml');
});

it('validate-rules: exit 1 with file: rule: reason for every problem of each broken rule file', async () => {
  const dir = path.join(tmp, 'services');
  cpSync(path.join(ROOT, 'cds-services'), dir, { recursive: true });
  cpSync(path.join(ROOT, 'test/fixtures/services/hscrp-advisor'), path.join(dir, 'hscrp-advisor'), { recursive: true });
  const il6 = path.join(dir, 'il6-inflammation', 'rules.yaml');
  // Two mistakes in one file: both are reported in one run.
  writeFileSync(il6, readFileSync(il6, 'utf8').replace('.ofType(dateTime)', '.ofTipe(dateTime)').replace('{ value: 38.0, unit: Cel,', '{ value: 38.0, unit: Cell,'));
  const hscrp = path.join(dir, 'hscrp-advisor', 'rules.yaml');
  writeFileSync(hscrp, `${readFileSync(hscrp, 'utf8')}\nunexpectedSection: true\n`);

  const bad = await runNode([CLI_JS, 'validate-rules', dir]);
  expect(bad.code).toBe(1);
  const lines = bad.stderr.trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatch(new RegExp(`^${escape(hscrp)}: \\S+: .+`));
  expect(lines[0]).toContain('unexpectedSection');
  expect(lines[1]).toBe(`${il6}: parameters.feverCel.unit: "Cell" is not a UCUM unit: Cell is not a valid UCUM code.`);
  expect(lines[2]).toMatch(new RegExp(`^${escape(il6)}: facts\\.[\\w.]+\\[\\d+\\]: .*ofTipe`));
  expect(lines[3]).toBe('2 of 2 failed.');

  const json = await runNode([CLI_JS, 'validate-rules', '--json', il6]);
  expect(json.code).toBe(1);
  const result = JSON.parse(json.stdout) as { ok: boolean; checks: { ok: boolean; file: string; rule: string; reason: string; problems: unknown[] }[] };
  expect(result.ok).toBe(false);
  expect(result.checks[0]).toMatchObject({ ok: false, file: il6, rule: 'parameters.feverCel.unit' });
  expect(result.checks[0]!.problems).toEqual([
    { rule: 'parameters.feverCel.unit', reason: expect.stringContaining('"Cell" is not a UCUM unit') },
    { rule: expect.stringMatching(/^facts\./) as unknown, reason: expect.stringContaining('ofTipe') },
  ]);
});

describe('feedback-summary reads an existing store only', () => {
  const card = () => ({
    cardUuid: randomUUID(),
    suggestionUuids: [],
    serviceId: 'il6-inflammation',
    findingCode: 'il6-trend',
    ruleSetVersion: '1.0.0',
    profile: 'default',
    indicator: 'warning' as const,
    hookInstance: randomUUID(),
    patientHash: 'f'.repeat(64),
    issuedAtMs: Date.now(),
  });

  it('a DATA_DIR without il6-cds.sqlite: exit 1 naming the file and what DATA_DIR must be, nothing created; the right DATA_DIR works', async () => {
    const empty = path.join(tmp, 'no-store');
    mkdirSync(empty);
    const missing = path.join(tmp, 'not-there', 'data');
    for (const dir of [empty, missing]) {
      const res = await runNode([CLI_JS, 'feedback-summary'], { env: { DATA_DIR: dir } });
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe(
        `il6-cds: cannot open the SQLite database in ${dir} (DATA_DIR): ${path.join(dir, 'il6-cds.sqlite')} does not exist; ` +
          "DATA_DIR must be the service's data folder (the one holding its il6-cds.sqlite), or set DATABASE_URL if the service uses PostgreSQL\n",
      );
    }
    expect(readdirSync(empty)).toEqual([]);
    expect(existsSync(path.join(tmp, 'not-there'))).toBe(false);

    const good = path.join(tmp, 'data');
    const store = await openStore({ dataDir: good, databaseUrl: undefined, databaseSchema: 'public', databasePoolMax: 1 });
    await store.recordCards([card()]);
    await store.close();
    const ok = await runNode([CLI_JS, 'feedback-summary', '--json'], { env: { DATA_DIR: good } });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ totals: { issued: 1 } });
  }, 60_000);

  const pgIt = postgresBackend.available ? it : it.skip;
  if (!postgresBackend.available) console.warn(`feedback-summary with PostgreSQL skipped: ${postgresBackend.reason}`);
  pgIt('a DATABASE_SCHEMA without the service tables: exit 1 naming the schema, no schema created; the right one works', async () => {
    const loc = postgresBackend.create(); // a fresh schema name, not created yet
    try {
      const schemas = async () => {
        const { Client } = await import('pg');
        const client = new Client({ connectionString: loc.env.DATABASE_URL });
        await client.connect();
        try {
          return (await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [loc.env.DATABASE_SCHEMA])).rowCount;
        } finally {
          await client.end();
        }
      };
      const res = await runNode([CLI_JS, 'feedback-summary'], { env: loc.env });
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `il6-cds: cannot open the PostgreSQL database (DATABASE_URL): schema "${loc.env.DATABASE_SCHEMA}" holds no il6-cds tables: ` +
          'set DATABASE_SCHEMA (and DATABASE_URL) to what the service uses\n',
      );
      expect(await schemas()).toBe(0);

      const store = await loc.open();
      await store.recordCards([card()]);
      await store.close();
      const ok = await runNode([CLI_JS, 'feedback-summary', '--json'], { env: loc.env });
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ totals: { issued: 1 } });
    } finally {
      await loc.cleanup();
    }
  }, 60_000);
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
