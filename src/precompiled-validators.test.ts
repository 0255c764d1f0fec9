/**
 * The validators compiled at build time must be the ones start-up uses, answer exactly as ajv compiling the same
 * schemas at run time, and never be used once a schema has changed since the build.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { CDS_HOOKS_SCHEMAS, generatedModulePath, groupAjv, RULE_FILE_SCHEMAS, SCHEMA_GROUPS, schemaGroupHash, schemaValidators, type SchemaGroup } from './precompiled-validators';

const rules = YAML.parse(readFileSync(path.join(__dirname, '../cds-services/il6-inflammation/rules.yaml'), 'utf8'), { maxAliasCount: 1000 }) as Record<string, unknown>;
const request = {
  hook: 'patient-view',
  hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
  context: { userId: 'Practitioner/1', patientId: 'p1' },
  prefetch: { patient: { resourceType: 'Patient', id: 'p1' } },
};
const card = { uuid: '6c1b5a0e-3e0f-4bb4-9a4a-2f3d8c1b9e11', summary: 'IL-6 5 pg/mL', indicator: 'info', source: { label: 'il6-cds' } };

/** Valid and broken values of each schema: the verdict and every error must be the same from both validators. */
const samples: Record<string, unknown[]> = {
  request: [
    request,
    { ...request, hookInstance: 'not-a-uuid' },
    { ...request, context: {} },
    { ...request, fhirServer: 'not a uri', fhirAuthorization: { access_token: 5 } },
    { hook: 5 },
    [],
    null,
  ],
  response: [{ cards: [card] }, { cards: [{ ...card, indicator: 'loud' }] }, { cards: [{ ...card, suggestions: [{ label: 'a', isRecommended: true }, { label: 'b', isRecommended: true }] }] }, {}],
  discovery: [{ services: [{ hook: 'patient-view', id: 'x', description: 'd' }] }, { services: [{ id: 5 }] }, { services: 'none' }],
  serviceDefinition: [{ hook: 'patient-view', id: 'x', description: 'd', prefetch: { patient: 'Patient/{{context.patientId}}' } }, { hook: 'patient-view' }],
  feedback: [
    { feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: { code: 'x', system: 'urn:x' } }, outcomeTimestamp: '2026-06-01T12:00:00Z' }] },
    { feedback: [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: '2026-06-01T12:00:00Z' }] }, { feedback: [{ card: card.uuid, outcome: 'maybe' }] }, { feedback: [{ outcomeTimestamp: 'yesterday' }] }],
  ruleFile: [
    rules,
    { ...rules, version: 5 },
    { ...rules, facts: { broken: { resourceTypes: 'Observation' } } },
    { ...rules, findings: [{ code: 'x', display: 'x', indicator: 'loud', when: [{ nothing: true }], card: { summary: 's' } }] },
    {},
  ],
};

describe('schema validators compiled at build time', () => {
  it.each(SCHEMA_GROUPS.map((g) => [g.name, g] as const))('%s: the generated module exists and was built from these schemas, so start-up uses it', (_name, group) => {
    const generated = require(generatedModulePath(group)) as { schemaGroupHash?: string };
    expect(generated.schemaGroupHash).toBe(schemaGroupHash(group));
  });

  it.each(SCHEMA_GROUPS.map((g) => [g.name, g] as const))('%s: every validator answers as ajv compiling the schema now, errors included', (_name, group) => {
    const built = schemaValidators(group);
    const ajv = groupAjv(group);
    for (const [name, schema] of Object.entries<{ $id?: string }>(group.schemas)) {
      const compiled = ajv.getSchema(schema.$id!)!;
      const validate = built[name as keyof typeof built]!;
      expect(validate).not.toBe(compiled);
      expect(samples[name]?.length).toBeGreaterThan(1);
      for (const value of samples[name]!) {
        const verdict = validate(value);
        expect(verdict).toBe(compiled(value));
        expect(validate.errors ?? null).toEqual(compiled.errors ?? null);
      }
      expect(samples[name]!.some((v) => validate(v))).toBe(true);
      expect(samples[name]!.some((v) => !validate(v))).toBe(true);
    }
  });

  it('a schema changed since the build is compiled at start-up instead: the module built from the old one is not used', () => {
    const stricter: SchemaGroup<'request'> = {
      ...CDS_HOOKS_SCHEMAS,
      schemas: { request: { ...CDS_HOOKS_SCHEMAS.schemas.request, required: [...(CDS_HOOKS_SCHEMAS.schemas.request.required as string[]), 'fhirServer'] } },
    };
    expect(schemaGroupHash(stricter)).not.toBe(schemaGroupHash(CDS_HOOKS_SCHEMAS));
    expect(schemaValidators(CDS_HOOKS_SCHEMAS).request(request)).toBe(true);
    expect(schemaValidators(stricter).request(request)).toBe(false);
    const changedRules: SchemaGroup<'ruleFile'> = { ...RULE_FILE_SCHEMAS, schemas: { ruleFile: { ...RULE_FILE_SCHEMAS.schemas.ruleFile, maxProperties: 1 } } };
    expect(schemaValidators(RULE_FILE_SCHEMAS).ruleFile(rules)).toBe(true);
    expect(schemaValidators(changedRules).ruleFile(rules)).toBe(false);
  });
});
