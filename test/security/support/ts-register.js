// Lets a child process run the TypeScript sources directly (`node -r ./ts-register.js src/main.ts`), so tests
// that need real service processes test the code in the tree, not a possibly stale dist/. Each .ts file is
// transpiled (types stripped, CommonJS) with the project's TypeScript on first require, and the output is
// cached in the system temp folder by content hash. No type checking (that is `npm run typecheck`).
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const CACHE = path.join(os.tmpdir(), 'il6-cds-ts-cache');
const OPTIONS = {
  module: 1 /* CommonJS */,
  target: 9 /* ES2022 */,
  esModuleInterop: true,
  resolveJsonModule: true,
  isolatedModules: true,
  inlineSourceMap: true,
};
let ts;

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha1').update(filename).update('\0').update(source).update(JSON.stringify(OPTIONS)).digest('hex');
  const cached = path.join(CACHE, `${key}.js`);
  let output;
  try {
    output = fs.readFileSync(cached, 'utf8');
  } catch {
    ts ??= require('typescript');
    output = ts.transpileModule(source, { fileName: filename, compilerOptions: OPTIONS }).outputText;
    try {
      fs.mkdirSync(CACHE, { recursive: true });
      const tmp = `${cached}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, output);
      fs.renameSync(tmp, cached);
    } catch {
      // a cache is a cache
    }
  }
  module._compile(output, filename);
};
