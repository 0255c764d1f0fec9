/**
 * Every fixture resource must be valid FHIR R4: the service leaves an invalid one out of the evaluation (and only
 * logs it), so a fixture with one would quietly test less than its title says (an id of 65 characters did).
 */
import { screenResources } from '../../src/hardening/fhir-r4';
import { fixtureResources, listFixtures } from '../../src/fixtures/catalog';

it.each(listFixtures().map((f) => [f.slug, f] as const))('%s: every resource is valid FHIR R4', (_slug, fixture) => {
  const { invalid } = screenResources(fixtureResources(fixture, new Date(Date.UTC(2026, 5, 1))));
  expect(invalid).toEqual([]);
});
