/**
 * The validators of the project's own JSON Schemas (CDS Hooks bodies, rule files), compiled at build time.
 *
 * Compiling them with ajv took ~280 ms of every start-up on a slow 2-core machine, a fifth of the cold-start budget.
 * `scripts/build-schema-validators.js` (part of `npm run build`) writes each group below as ajv standalone code to
 * `src/generated/<group>-validators.js` (and `dist/`), stamped with a hash of the group's schemas, options and
 * ajv's version. A stamped file is used only when its hash is the hash of what this code would compile; otherwise
 * (not built yet, a schema edited since the build) the group is compiled here, as before: never stale, at worst
 * slower to start.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import Ajv, { type AnySchemaObject, type Options, type ValidateFunction } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import addFormats, { type FormatName } from 'ajv-formats';
import discoverySchema from './cds-hooks/schemas/discovery.schema.json';
import feedbackSchema from './cds-hooks/schemas/feedback.schema.json';
import requestSchema from './cds-hooks/schemas/request.schema.json';
import responseSchema from './cds-hooks/schemas/response.schema.json';
import serviceDefinitionSchema from './cds-hooks/schemas/service-definition.schema.json';
import ruleFileSchema from './engine/rule-file.schema.json';

export interface SchemaGroup<N extends string> {
  /** File name stem of the generated module. */
  name: string;
  draft: '07' | '2019-09';
  /** ajv-formats formats the schemas use. */
  formats: string[];
  /** Exported validator name → schema (each with its `$id`). */
  schemas: Record<N, AnySchemaObject>;
}

const OPTIONS = { allErrors: true, strict: true, strictRequired: false, strictTypes: false } as const;

/** CDS Hooks bodies (draft 2019-09: the response schema needs maxContains, at most one isRecommended suggestion). */
export const CDS_HOOKS_SCHEMAS: SchemaGroup<'discovery' | 'serviceDefinition' | 'request' | 'response' | 'feedback'> = {
  name: 'cds-hooks',
  draft: '2019-09',
  formats: ['uri', 'uuid', 'date-time'],
  schemas: { serviceDefinition: serviceDefinitionSchema, discovery: discoverySchema, request: requestSchema, response: responseSchema, feedback: feedbackSchema },
};

export const RULE_FILE_SCHEMAS: SchemaGroup<'ruleFile'> = { name: 'rule-file', draft: '07', formats: [], schemas: { ruleFile: ruleFileSchema } };

/** The group's ajv instance with every schema added: what the build and the fallback both compile from. */
export function groupAjv(group: SchemaGroup<string>, code?: Options['code']): Ajv {
  const ajv = group.draft === '2019-09' ? new Ajv2019({ ...OPTIONS, code }) : new Ajv({ ...OPTIONS, code });
  if (group.formats.length > 0) addFormats(ajv, group.formats as FormatName[]);
  for (const schema of Object.values<AnySchemaObject>(group.schemas)) ajv.addSchema(schema);
  return ajv;
}

/** What the group's generated module must have been built from: schemas, options and the ajv packages' versions. */
export function schemaGroupHash(group: SchemaGroup<string>): string {
  const version = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version;
  return createHash('sha256')
    .update(JSON.stringify({ ajv: version('ajv'), ajvFormats: version('ajv-formats'), options: OPTIONS, ...group }))
    .digest('hex');
}

export function generatedModulePath(group: SchemaGroup<string>, dir: string = path.join(__dirname, 'generated')): string {
  return path.join(dir, `${group.name}-validators.js`);
}

/** The group's validators: the generated ones when built from exactly these schemas, else compiled now. */
export function schemaValidators<N extends string>(group: SchemaGroup<N>): Record<N, ValidateFunction> {
  const names = Object.keys(group.schemas) as N[];
  try {
    const generated = require(generatedModulePath(group)) as Record<string, unknown>;
    if (generated.schemaGroupHash === schemaGroupHash(group)) return Object.fromEntries(names.map((n) => [n, generated[n] as ValidateFunction])) as Record<N, ValidateFunction>;
  } catch {
    // not generated yet: compiled below
  }
  const ajv = groupAjv(group);
  return Object.fromEntries(names.map((n) => [n, ajv.getSchema((group.schemas[n] as AnySchemaObject).$id!)!])) as Record<N, ValidateFunction>;
}

/** Every group, in the order `scripts/build-schema-validators.js` writes them. */
export const SCHEMA_GROUPS: readonly SchemaGroup<string>[] = [CDS_HOOKS_SCHEMAS, RULE_FILE_SCHEMAS];
