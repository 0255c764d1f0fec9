/**
 * Loads an ES module of the preview page (`src/preview/page/*.js`, plain browser JavaScript without imports and
 * with one `export { … }` statement at the end) into jest, so unit tests exercise the very file the browser runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PAGE_DIR } from '../../src/preview/router';

export function loadPageModule<T>(name: string): T {
  const source = readFileSync(path.join(PAGE_DIR, name), 'utf8');
  if (/^\s*import\b/m.test(source)) throw new Error(`${name} imports other modules; only self-contained page modules can be loaded in jest`);
  const exports = /^export \{([^}]*)\};?\s*$/m.exec(source);
  if (!exports) throw new Error(`${name} has no final "export { … };" statement`);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function(`'use strict';\n${source.replace(exports[0], `return {${exports[1]}};`)}`)() as T;
}
