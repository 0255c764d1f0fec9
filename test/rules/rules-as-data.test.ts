/**
 * The rules are data: changing a threshold or a window in a rule file, picking a profile, or adding a whole
 * service changes what the service says — with no TypeScript change.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT } from '../../src/config';
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import type { RunningServer } from '../../src/server';
import { findingCodes, hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';

const IL6 = 'il6-inflammation';
const fixtures = new Map(listFixtures().map((f) => [f.slug, f]));
const dirs: string[] = [];
const servers: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A services directory with copies of the given service folders, the rule file edited by `edit`. */
function servicesDir(folders: string[], edit?: (rules: string) => string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'il6-services-'));
  dirs.push(dir);
  for (const f of folders) cpSync(f, path.join(dir, path.basename(f)), { recursive: true });
  if (edit) {
    const file = path.join(dir, IL6, 'rules.yaml');
    const before = readFileSync(file, 'utf8');
    const after = edit(before);
    expect(after).not.toBe(before);
    writeFileSync(file, after);
  }
  return dir;
}

async function run(slug: string, config: Parameters<typeof startTestService>[0] = {}): Promise<string[]> {
  const fixture = fixtures.get(slug)!;
  const server = await startTestService(config);
  servers.push(server);
  const templates = server.registry.get(IL6)!.definition.prefetch!;
  const prefetch = buildPrefetch(templates, fixtureResources(fixture), fixture.expected.patient);
  const reply = await postHook(server.url, IL6, hookRequest(fixture.expected.patient, { prefetch }));
  expect(reply.status).toBe(200);
  return findingCodes(reply.body as CdsResponse);
}

const il6Folder = path.join(PROJECT_ROOT, 'cds-services', IL6);

describe('rules as data', () => {
  it('changing a window in the rule file changes the outcome (persistence spacing 14 → 21 days)', async () => {
    expect(await run('persistent-20-days-apart')).toContain('il6-persistent');
    const dir = servicesDir([il6Folder], (r) => r.replace(/persistentSpacing: \{ value: 14 days,/, 'persistentSpacing: { value: 21 days,'));
    const codes = await run('persistent-20-days-apart', { config: { servicesDir: dir } });
    expect(codes).not.toContain('il6-persistent');
    expect(codes).toContain('il6-unconfirmed');
  });

  it('changing a threshold in the rule file changes the outcome (fever 38.0 → 38.5 °C)', async () => {
    expect(await run('confounder-fever-38-0-cel')).toContain('il6-confounded');
    const dir = servicesDir([il6Folder], (r) => r.replace(/feverCel: \{ value: 38\.0,/, 'feverCel: { value: 38.5,'));
    expect(await run('confounder-fever-38-0-cel', { config: { servicesDir: dir } })).toEqual(['il6-hscrp', 'il6-unconfirmed']);
  });

  it('the longevity profile is selected by configuration (RULES_PROFILE) and changes the outcome', async () => {
    const longevity = loadConfig({ RULES_PROFILE: 'longevity' }).rulesProfile;
    expect(longevity).toBe('longevity');
    // IL-6 2.5 then 2.6 pg/mL, 30 days apart: not elevated by default (> 3.0), persistent for longevity (> 2.0).
    expect(await run('longevity-persistent-2-5-pair', { config: { rulesProfile: 'default' } })).not.toContain('il6-persistent');
    expect(await run('longevity-persistent-2-5-pair', { config: { rulesProfile: longevity } })).toContain('il6-persistent');
    // IL-6 1.3 pg/mL with fever: below the default 1.5 gate, above the longevity 1.2 gate.
    expect(await run('longevity-confounded-1-3', { config: { rulesProfile: 'default' } })).toEqual([]);
    expect(await run('longevity-confounded-1-3', { config: { rulesProfile: longevity } })).toEqual(['il6-confounded']);
  });

  it('a RULES_PROFILE the rule file lacks falls back to default, even one named like an object property', async () => {
    for (const rulesProfile of ['strict', 'constructor']) {
      expect(await run('longevity-persistent-2-5-pair', { config: { rulesProfile } })).toEqual(await run('longevity-persistent-2-5-pair', { config: { rulesProfile: 'default' } }));
    }
  });

  it('a second service (hs-CRP advisor) added as a folder of data is discovered and served by the same engine', async () => {
    const dir = servicesDir([il6Folder, path.join(__dirname, '../fixtures/services/hscrp-advisor')]);
    const server = await startTestService({ config: { servicesDir: dir } });
    servers.push(server);
    const discovery = (await (await fetch(`${server.url}/cds-services`)).json()) as { services: { id: string }[] };
    expect(discovery.services.map((s) => s.id).sort()).toEqual(['hscrp-advisor', IL6]);

    const crp = (value: number, daysAgo: number, id: string) => ({
      resourceType: 'Observation' as const,
      id,
      status: 'final' as const,
      code: { coding: [{ system: 'http://loinc.org', code: '30522-7' }] },
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: new Date(Date.now() - daysAgo * 86_400_000).toISOString(),
      valueQuantity: { value, unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' },
    });
    const ask = async (resources: ReturnType<typeof crp>[]) => {
      const prefetch = {
        patient: { resourceType: 'Patient' as const, id: 'p1' },
        crp: { resourceType: 'Bundle' as const, type: 'searchset' as const, entry: resources.map((resource) => ({ resource })) },
      };
      const reply = await postHook(server.url, 'hscrp-advisor', hookRequest('p1', { prefetch }));
      expect(reply.status).toBe(200);
      return (reply.body as CdsResponse).cards;
    };
    const [card] = await ask([crp(1.1, 100, 'a'), crp(4.5, 3, 'b')]);
    expect(card?.source.topic).toEqual({ system: 'urn:il6-cds:test-finding', code: 'hscrp-high', display: 'Elevated hs-CRP' });
    expect(card?.indicator).toBe('info');
    expect(card?.summary).toMatch(/^hs-CRP 4\.5 mg\/L on \d{4}-\d{2}-\d{2} is above 3 mg\/L$/);
    expect((await ask([crp(12, 1, 'c')]))[0]?.indicator).toBe('warning');
    expect(await ask([crp(2.9, 1, 'd')])).toEqual([]);
  });
});

describe('the engine in src/ is generic', () => {
  it('no IL-6 name, LOINC code or clinical threshold appears in the engine source', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const file = path.join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (/\.(ts|js)$/.test(name) && !/\.test\.ts$/.test(name)) {
          // Code only: comments may use IL-6 as an example.
          const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
          for (const pattern of [/\bIL-?6\b/i, /\binterleukin/i, /\b\d{3,6}-\d\b(?![\d.])/, /\bhs-?CRP\b/i, /tocilizumab/i]) {
            const m = pattern.exec(text);
            if (m) offenders.push(`${path.relative(PROJECT_ROOT, file)}: ${m[0]}`);
          }
        }
      }
    };
    for (const dir of ['engine', 'cards', 'prefetch', 'hooks', 'services', 'preview']) walk(path.join(PROJECT_ROOT, 'src', dir));
    expect(offenders).toEqual([]);
  });
});
