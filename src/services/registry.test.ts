/**
 * A broken service folder stops start-up (and fails `validate-rules`) with every problem of the file at fault:
 * the discovery entry's, else the rule file's.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadService, ServiceLoadError } from './registry';

const SOURCE = path.join(__dirname, '../../test/fixtures/services/hscrp-advisor');
let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-registry-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the small test service in a folder named `folder`, its discovery entry and rule file edited. */
function service(folder: string, edit: { discovery?: (d: Record<string, unknown>) => void; rules?: (text: string) => string } = {}): string {
  const dir = path.join(tmp, folder);
  cpSync(SOURCE, dir, { recursive: true });
  const discovery = JSON.parse(readFileSync(path.join(dir, 'discovery.json'), 'utf8')) as Record<string, unknown>;
  edit.discovery?.(discovery);
  writeFileSync(path.join(dir, 'discovery.json'), JSON.stringify(discovery));
  if (edit.rules) writeFileSync(path.join(dir, 'rules.yaml'), edit.rules(readFileSync(path.join(dir, 'rules.yaml'), 'utf8')));
  return dir;
}

function loadError(dir: string): ServiceLoadError {
  try {
    loadService(dir, path.basename(dir), { profile: 'default' });
  } catch (err) {
    if (err instanceof ServiceLoadError) return err;
    throw err;
  }
  throw new Error('the service loaded');
}

it('loads the unedited copy', () => {
  expect(loadService(service('hscrp-advisor'), 'hscrp-advisor', { profile: 'default' }).id).toBe('hscrp-advisor');
});

it('reports every problem of a discovery entry, one line each', () => {
  const dir = service('hscrp-advisor', {
    discovery: (d) => {
      d.id = 'crp-advisor';
      d.prefetch = { patient: 'Patient/{{context.patient}}', crp: 'https://ehr.example/fhir/Observation?patient={{context.patientId}}', ok: 'Condition?patient={{context.patientId}}' };
    },
  });
  const e = loadError(dir);
  const file = path.join(dir, 'discovery.json');
  expect(e.file).toBe(file);
  expect(e.problems).toEqual([
    { rule: 'id', reason: '"crp-advisor" must equal the folder name "hscrp-advisor"' },
    { rule: 'prefetch.patient', reason: expect.stringMatching(/^\{\{context\.patient\}\} is not a patient-view prefetch token/) as unknown },
    { rule: 'prefetch.crp', reason: expect.stringMatching(/relative FHIR query/) as unknown },
  ]);
  expect(e.message.split('\n')).toEqual([`${file}: id: ${e.reason}`, `${file}: prefetch.patient: ${e.problems[1]!.reason}`, `${file}: prefetch.crp: ${e.problems[2]!.reason}`]);
});

it('reports the schema problems of a discovery entry before anything else', () => {
  const e = loadError(service('hscrp-advisor', { discovery: (d) => delete d.hook }));
  expect(e.rule).toBe('hook');
});

it('passes on every problem of the rule file', () => {
  const dir = service('hscrp-advisor', {
    rules: (text) => text.replace('acuteAbove: { value: 10, unit: mg/L', 'acuteAbove: { value: 10, unit: mgg/L').replace('two weeks when above 10 mg/L to exclude an acute process.", source: aha', 'two weeks when above 10 mg/L to exclude an acute process.", source: ahaa'),
  });
  const e = loadError(dir);
  expect(e.file).toBe(path.join(dir, 'rules.yaml'));
  expect(e.problems.map((p) => p.rule)).toEqual(['parameters.acuteAbove.unit', 'findings[0] (hscrp-high).card.guidance[0].source']);
  expect(e.message.split('\n')).toHaveLength(2);
});
