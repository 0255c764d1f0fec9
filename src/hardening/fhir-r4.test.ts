/**
 * The generated validators (ajv standalone code, rewritten by scripts/build-fhir-validator.js to share one
 * call context) must say exactly what ajv itself says: the same verdict and the same first error — path,
 * keyword, parameters — on every fixture resource and on many broken variants of each.
 */
import path from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { fixtureResources, listFixtures } from '../fixtures/catalog';
import { loadFhirR4Validators } from './fhir-r4';

interface AjvLike {
  getSchema(ref: string): ((data: unknown) => boolean) & { errors?: unknown[] | null };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require(path.join(__dirname, '..', '..', 'scripts', 'build-fhir-validator.js')) as {
  loadSchema(): { schema: { $id: string }; resourceTypes: string[] };
  newAjv(schema: unknown, opts: { source: boolean }): AjvLike;
  shareCallContexts(code: string): { code: string; calls: number };
  translateXsdPatterns(node: unknown): void;
};

/** Broken variants: every value replaced by values of other JSON types, and an unknown property on every object. */
function variants(resource: FhirResource): unknown[] {
  const out: unknown[] = [];
  const replacements: unknown[] = [{}, [], '', 'x y', 7.5, -1, true, null, [null], [{}], { extension: 5 }];
  const walk = (node: unknown, set: (v: unknown) => unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, (v) => set(node.map((x, j) => (j === i ? v : x)))));
      return;
    }
    if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      out.push(set({ ...record, unknownElement: 1 }));
      for (const key of Object.keys(record)) {
        if (key === 'resourceType') continue;
        walk(record[key], (v) => set({ ...record, [key]: v }));
      }
      return;
    }
    for (const r of replacements) if (r !== node) out.push(set(r));
  };
  walk(resource, (v) => v);
  return out;
}

const firstError = (errors: unknown[] | null | undefined) => {
  const e = errors?.[0] as { instancePath?: string; keyword?: string; params?: unknown } | undefined;
  return e ? { instancePath: e.instancePath, keyword: e.keyword, params: e.params } : undefined;
};

describe('generated FHIR R4 validators equal ajv', () => {
  const { schema } = build.loadSchema();
  const ajv = build.newAjv(schema, { source: false });
  const generated = loadFhirR4Validators();
  const resources = listFixtures().flatMap((f) => fixtureResources(f, new Date(Date.UTC(2026, 5, 1))));
  const types = [...new Set(resources.map((r) => r.resourceType))].sort();

  it.each(types)('%s: same verdict and first error on every fixture resource and its broken variants', (type) => {
    const reference = ajv.getSchema(`${schema.$id}#/definitions/${type}`)!;
    const validate = generated[type]!;
    let invalid = 0;
    let compared = 0;
    for (const resource of resources.filter((r) => r.resourceType === type).slice(0, 40)) {
      for (const candidate of [resource, ...variants(resource)]) {
        const expected = reference(candidate);
        const actual = validate(candidate);
        compared++;
        if (!expected) invalid++;
        expect({ verdict: actual, error: actual ? undefined : firstError(validate.errors) }).toEqual({
          verdict: expected,
          error: expected ? undefined : firstError(reference.errors),
        });
      }
    }
    // The variants do reach nested elements and fail there, not just at the top.
    expect(invalid).toBeGreaterThan(compared / 2);
  });

  it('every nested call shares the one context; a call of an unknown shape stops the build', () => {
    const call = 'function validate1(data, {instancePath="", parentData, parentDataProperty, rootData=data}={}){' +
      'if(!(validate2(data.code, {instancePath:instancePath+"/code",parentData:data,parentDataProperty:"code",rootData}))){return false;}' +
      'if(!(wrapper0.validate(data1[i0], {instancePath:instancePath+"/extension/" + i0,parentData:data1,parentDataProperty:i0,rootData}))){return false;}return true;}';
    const { code, calls } = build.shareCallContexts(`"use strict";${call}`);
    expect(calls).toBe(2);
    expect(code).toContain('(validate2(data.code, __ctx) || __failedAt(validate2, instancePath+"/code"))');
    expect(code).toContain('(wrapper0.validate(data1[i0], __ctx) || __failedAt(wrapper0.validate, instancePath+"/extension/" + i0))');
    expect(() => build.shareCallContexts('"use strict";validate2(f(x), {instancePath:instancePath+"/a",parentData:data,parentDataProperty:"a",rootData})')).toThrow(/unknown shape/);
  });
});

describe("FHIR's patterns keep their XML Schema meaning (\\s is space, tab, CR, LF only)", () => {
  const validate = loadFhirR4Validators();
  const observation = (extra: Record<string, unknown>) => ({
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '26881-3' }] },
    ...extra,
  });

  // Text pasted from word processors and EHR notes carries these; each dropped the whole resource before.
  it.each([
    ['no-break space', '\u00a0'],
    ['byte order mark', '\ufeff'],
    ['line separator', '\u2028'],
    ['ideographic space', '\u3000'],
    ['narrow no-break space', '\u202f'],
  ])('a string with a %s is valid FHIR', (_name, ch) => {
    expect(validate.Observation!(observation({ note: [{ text: `drawn${ch}fasting` }], code: { text: `IL-6${ch}`, coding: [{ system: 'http://loinc.org', code: '26881-3' }] } }))).toBe(true);
    expect(validate.Observation!(observation({ note: [{ text: ch }] }))).toBe(true);
  });

  it('an empty string, a code with a tab or double space, and a uri with a space stay invalid', () => {
    expect(validate.Observation!(observation({ note: [{ text: '' }] }))).toBe(false);
    expect(validate.Observation!(observation({ code: { coding: [{ system: 'http://loinc.org', code: '26881-3\t' }] } }))).toBe(false);
    expect(validate.Observation!(observation({ code: { coding: [{ system: 'http://loinc.org', code: '26881  3' }] } }))).toBe(false);
    expect(validate.Observation!(observation({ code: { coding: [{ system: 'http://loinc .org', code: '26881-3' }] } }))).toBe(false);
  });

  it('every pattern with \\s or \\S is translated; one without a translation stops the build', () => {
    const { schema } = build.loadSchema();
    const patterns = new Set<string>();
    JSON.stringify(schema, (key, value: unknown) => (key === 'pattern' && typeof value === 'string' && patterns.add(value), value));
    // Only string/markdown's "any character" keeps a \s (inside [\s\S], where its width does not matter).
    expect([...patterns].filter((p) => /\\[sS]/.test(p))).toEqual(['^[\\s\\S]+$']);
    expect(() => build.translateXsdPatterns({ properties: { x: { pattern: '^\\s+$' } } })).toThrow(/no XML Schema translation/);
  });
});
