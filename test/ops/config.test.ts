/**
 * The one configuration: the README table is exactly `settingsMarkdown()` (regenerate it with
 * `npm run docs:config`), every setting documented with its default, and a bad setting stops start-up with a
 * message naming it — in `loadConfig`, and through the compiled service (`node dist/src/main.js`): exit code 2,
 * one line on stderr, no stack trace, nothing listening.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, SETTINGS, settingsMarkdown } from '../../src/config';
import { ensureBuilt, MAIN_JS, ROOT, runNode } from './support';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-config-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('the README settings table is generated from SETTINGS (run `npm run docs:config` after changing a setting)', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const begin = readme.indexOf('<!-- settings:begin');
  const end = readme.indexOf('<!-- settings:end -->');
  expect(begin).toBeGreaterThan(0);
  expect(readme.slice(readme.indexOf('\n', begin) + 1, end).trim()).toBe(settingsMarkdown());
  for (const s of Object.values(SETTINGS)) expect(settingsMarkdown()).toContain(`| \`${s.env}\` |`);
});

it('every setting has a working default: an empty environment is a valid configuration', () => {
  const config = loadConfig({});
  expect(config.port).toBe(8080);
  expect(config.metrics).toBe('on');
  expect(config.shutdownTimeoutMs).toBe(25000);
});

it.each([
  [{ PORT: 'http' }, /^Setting PORT="http" is invalid: expected a whole number\.$/],
  [{ PORT: '70000' }, /^Setting PORT="70000" is invalid: must be at most 65535\.$/],
  [{ LOG_LEVEL: 'loud' }, /^Setting LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent\.$/],
  [{ METRICS: 'maybe' }, /^Setting METRICS="maybe" is invalid: expected one of on, off\.$/],
  [{ SHUTDOWN_TIMEOUT_MS: '-1' }, /^Setting SHUTDOWN_TIMEOUT_MS="-1" is invalid: must be at least 0\.$/],
  [{ FHIR_TIMEOUT_MS: '5' }, /^Setting FHIR_TIMEOUT_MS="5" is invalid: must be at least 100\.$/],
  [{ PUBLIC_BASE_URL: 'ftp://x' }, /^Setting PUBLIC_BASE_URL="ftp:\/\/x" is invalid: expected an http\(s\) URL\.$/],
  [{ DATABASE_URL: 'mysql://u:secret@h/db' }, /^Setting DATABASE_URL is invalid: expected postgres:\/\//],
])('%j stops start-up with a message naming the setting', (env, message) => {
  expect(() => loadConfig(env)).toThrow(ConfigError);
  expect(() => loadConfig(env)).toThrow(message);
});

it('a configuration file (IL6_CDS_CONFIG) is checked the same way; the environment wins over it', () => {
  const file = path.join(tmp, 'bad.json');
  writeFileSync(file, JSON.stringify({ fhirTimeoutMs: 5 }));
  expect(() => loadConfig({ IL6_CDS_CONFIG: file })).toThrow(/^Setting FHIR_TIMEOUT_MS=5 is invalid: must be at least 100\.$/);
  expect(loadConfig({ IL6_CDS_CONFIG: file, FHIR_TIMEOUT_MS: '900' }).fhirTimeoutMs).toBe(900);
  const good = path.join(tmp, 'good.json');
  writeFileSync(good, JSON.stringify({ METRICS: 'off', shutdownTimeoutMs: 1000 }));
  expect(loadConfig({ IL6_CDS_CONFIG: good })).toMatchObject({ metrics: 'off', shutdownTimeoutMs: 1000 });
  const notJson = path.join(tmp, 'not.json');
  writeFileSync(notJson, 'PORT=1');
  expect(() => loadConfig({ IL6_CDS_CONFIG: notJson })).toThrow(/^Configuration file .*not\.json is not a JSON object/);
  expect(() => loadConfig({ IL6_CDS_CONFIG: path.join(tmp, 'missing.json') })).toThrow(/^IL6_CDS_CONFIG names .*missing\.json, which cannot be read/);
  const typo = path.join(tmp, 'typo.json');
  writeFileSync(typo, JSON.stringify({ PROT: 9090, metrics: 'off' }));
  expect(() => loadConfig({ IL6_CDS_CONFIG: typo })).toThrow(/^Configuration file .*typo\.json names "PROT", which is not a setting/);
});

describe('the compiled service refuses to start with a bad setting', () => {
  beforeAll(() => ensureBuilt(), 300_000);

  it.each([
    [{ PORT: 'http' }, 'Setting PORT="http" is invalid: expected a whole number.'],
    [{ METRICS: 'maybe' }, 'Setting METRICS="maybe" is invalid: expected one of on, off.'],
    [{ DATABASE_URL: 'mysql://user:s3cret@db/x' }, 'Setting DATABASE_URL is invalid'],
    [{ NODE_ENV: 'production', AUTH: 'disabled' }, 'AUTH=disabled'],
  ])('%j → exit 2, one line on stderr naming it', async (env, message) => {
    const run = await runNode([MAIN_JS], { env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env }, timeoutMs: 20_000 });
    expect(run.code).toBe(2);
    expect(run.stderr.startsWith('il6-cds: configuration error: ')).toBe(true);
    expect(run.stderr).toContain(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1); // no stack trace
    expect(run.stderr).not.toContain('s3cret'); // a bad DATABASE_URL is never echoed
    expect(run.stdout).toBe('');
  });

  it('a port in use → exit 2 naming PORT and HOST, not a bare EADDRINUSE', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = String((busy.address() as net.AddressInfo).port);
    try {
      const run = await runNode([MAIN_JS], { env: { PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'silent' }, timeoutMs: 20_000 });
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toBe(`il6-cds: configuration error: PORT ${port} on HOST 127.0.0.1 is already in use by another program: stop it or set PORT to a free port.`);
    } finally {
      busy.close();
    }
  });

  it('a configuration file that cannot be read → exit 2 naming IL6_CDS_CONFIG', async () => {
    const run = await runNode([MAIN_JS], { env: { IL6_CDS_CONFIG: path.join(tmp, 'nope.json') }, timeoutMs: 20_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^il6-cds: configuration error: IL6_CDS_CONFIG names .*nope\.json, which cannot be read/);
  });

  it('a broken rule file → exit 2 with every problem of it, one line each, no stack trace', async () => {
    const dir = path.join(tmp, 'services');
    cpSync(path.join(ROOT, 'cds-services'), dir, { recursive: true });
    const rules = path.join(dir, 'il6-inflammation', 'rules.yaml');
    writeFileSync(rules, readFileSync(rules, 'utf8').replace('{ value: 38.0, unit: Cel,', '{ value: 38.0, unit: Cell,').replace('.ofType(dateTime)', '.ofTipe(dateTime)'));
    const run = await runNode([MAIN_JS], { env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', CDS_SERVICES_DIR: dir }, timeoutMs: 20_000 });
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([
      `il6-cds: cannot load CDS services: ${rules}: parameters.feverCel.unit: "Cell" is not a UCUM unit: Cell is not a valid UCUM code.`,
      expect.stringMatching(new RegExp(`^${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: facts\\.\\w+\\.time\\[0\\]: .*ofTipe`)) as unknown,
    ]);
  });
});
