/**
 * The fixtures' README is how a reader finds the patient for an edge case: its table must name every fixture,
 * and both READMEs must give the number there is.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, listFixtures } from '../../src/fixtures/catalog';

const slugs = listFixtures().map((f) => f.slug).sort();
const fixturesReadme = readFileSync(path.join(FIXTURES_DIR, 'README.md'), 'utf8');
const projectReadme = readFileSync(path.join(FIXTURES_DIR, '..', 'README.md'), 'utf8');

it('fhir-fixtures/README.md has one table row per fixture, and no row for a fixture that is not there', () => {
  const rows = [...fixturesReadme.matchAll(/^\| `([a-z0-9-]+)`/gm)].map((m) => m[1]!).sort();
  expect(rows).toEqual(slugs);
});

it('both READMEs give the number of fixtures', () => {
  expect(fixturesReadme).toContain(`${slugs.length} fixtures.`);
  expect(projectReadme).toContain(`holds ${slugs.length} synthetic patients`);
});
