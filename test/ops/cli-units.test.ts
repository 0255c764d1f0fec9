/** The pure parts of the CLI and the metrics: id prefixes, terminal rendering of cards, fetch-error classes. */
import type { Bundle, Observation } from 'fhir/r4';
import { runFire } from '../../src/cli/commands/fire';
import { checkPrefix, MAX_ID_LENGTH, prefixedId, withPrefix } from '../../src/cli/commands/fixture-ids';
import { formatCards, markdownToText } from '../../src/cli/commands/print-cards';
import { escapeMarkdown, table } from '../../src/cards/markdown';
import { listFixtures } from '../../src/fixtures/catalog';
import { fetchErrorReason } from '../../src/observability/fetch-errors';
import { FhirFetchError } from '../../src/prefetch/fhir-client';

describe('fixture ids with --prefix', () => {
  it('prefixes short ids as they are and keeps long ones within 64 characters, stable and distinct', () => {
    expect(prefixedId('il6cds-a', 'jdoe')).toBe('jdoe-il6cds-a');
    expect(prefixedId('il6cds-a')).toBe('il6cds-a');
    const long1 = 'il6cds-confounder-earlier-elevated-latest-confounded-il6a';
    const long2 = 'il6cds-confounder-earlier-elevated-latest-confounded-il6b';
    const a = prefixedId(long1, 'a-rather-long-prefix');
    const b = prefixedId(long2, 'a-rather-long-prefix');
    expect(a.length).toBeLessThanOrEqual(MAX_ID_LENGTH);
    expect(a).toMatch(/^a-rather-long-prefix-il6cds-[A-Za-z0-9-]+$/);
    expect(a).not.toBe(b);
    expect(prefixedId(long1, 'a-rather-long-prefix')).toBe(a);
  });

  it('refuses prefixes that cannot start a FHIR id', () => {
    for (const bad of ['', '-x', 'x-', 'a/b', 'a b', 'a.b', 'x'.repeat(33)]) expect(() => checkPrefix(bad)).toThrow(/--prefix/);
    for (const good of ['jdoe', 'ci-1', 'A9']) expect(() => checkPrefix(good)).not.toThrow();
  });

  it('rewrites every id, request url and reference inside every fixture bundle, and nothing that points outside', () => {
    for (const f of listFixtures()) {
      const out = withPrefix(f.bundle, 'p1');
      const ids = new Set((out.entry ?? []).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
      for (const e of out.entry ?? []) {
        expect(e.resource!.id!.startsWith('p1-')).toBe(true);
        expect(e.request!.url).toBe(`${e.resource!.resourceType}/${e.resource!.id}`);
      }
      for (const ref of JSON.stringify(out).match(/"reference":"[^"]*"/g) ?? []) {
        const target = ref.slice('"reference":"'.length, -1);
        if (target.startsWith('#')) continue; // a contained resource, inside the resource that refers to it
        expect(ids.has(target.replace(/\/_history\/[^/]*$/, ''))).toBe(true);
      }
    }
    const observation: Observation = { resourceType: 'Observation', id: 'o1', status: 'final', code: {}, subject: { reference: 'Patient/elsewhere' } };
    const outside: Bundle<Observation> = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: observation, request: { method: 'PUT', url: 'Observation/o1' } }] };
    const rewritten = withPrefix(outside, 'p1');
    expect(rewritten.entry![0]!.resource!.subject!.reference).toBe('Patient/elsewhere');
    expect(outside.entry![0]!.resource!.id).toBe('o1'); // the input is not changed
  });
});

describe('fire: arguments refused before anything is contacted', () => {
  // Port 9 (discard) on a documentation address: a call made despite the refusal would fail differently.
  const base = { patient: 'p1', fhir: 'http://192.0.2.1:9/fhir', url: 'http://192.0.2.1:9' };
  it.each([
    ['a URL as --service', { service: 'http://localhost:8099' }, /^--service "http:\/\/localhost:8099": give a CDS service id such as il6-inflammation; the service's base URL goes in --url$/],
    ['a path as --service', { service: 'cds-services/il6-inflammation' }, /^--service "cds-services\/il6-inflammation": give a CDS service id such as il6-inflammation$/],
    ['a reference as --patient', { patient: 'Patient/p1' }, /^--patient "Patient\/p1": give the Patient id only/],
  ])('%s', async (_name, opts, message) => {
    await expect(runFire({ ...base, ...opts })).rejects.toThrow(message);
  });
});

describe('cards in the terminal', () => {
  it('undoes Markdown escapes, drops emphasis, aligns tables and keeps bullets', () => {
    const md = [
      `**Persistent IL-6 elevation.** Value ${escapeMarkdown('5.1 pg/mL <high> | *x* & [y]')}.`,
      '',
      `**Results used**\n\n${table(['Test', 'Date', 'Value'], [['IL-6', '2026-01-02', escapeMarkdown('>7.0 pg|mL')], ['hs-CRP', '2026-01-03', '1 mg/L']])}`,
      '',
      '- Exclude secondary causes — *Forge (seeds/001.txt)*',
    ].join('\n');
    const lines = markdownToText(md, { width: 200 });
    expect(lines[0]).toBe('Persistent IL-6 elevation. Value 5.1 pg/mL <high> | *x* & [y].');
    expect(lines).toContain('Results used');
    expect(lines).toContain('Test    Date        Value');
    expect(lines).toContain('IL-6    2026-01-02  >7.0 pg|mL');
    expect(lines).toContain('hs-CRP  2026-01-03  1 mg/L');
    expect(lines).toContain('• Exclude secondary causes — Forge (seeds/001.txt)');
  });

  it('wraps long lines with a hanging indent for bullets', () => {
    const lines = markdownToText(`- ${'word '.repeat(30).trim()}`, { width: 40 });
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(lines[1]!.startsWith('  word')).toBe(true);
  });

  it('prints indicator, summary, source, suggestions and override reasons; colour only when asked', () => {
    const response = {
      cards: [
        {
          summary: 'IL-6 high',
          indicator: 'critical' as const,
          detail: 'detail',
          source: { label: 'IL-6 rules', topic: { code: 'il6-x' } },
          suggestions: [{ label: 'Order hs-CRP', isRecommended: true }],
          overrideReasons: [{ system: 's', code: 'a', display: 'Already addressed' }],
        },
      ],
    };
    const plain = formatCards(response);
    expect(plain).toContain('[CRITICAL] IL-6 high');
    expect(plain).toContain('finding il6-x · IL-6 rules');
    expect(plain).toContain('• Order hs-CRP (recommended)');
    expect(plain).toContain('Override reasons: Already addressed');
    expect(plain).not.toContain('\x1b[');
    expect(formatCards(response, { color: true })).toContain('\x1b[31m');
    expect(formatCards({ cards: [] })).toMatch(/^No cards/);
  });
});

describe('FHIR fetch error classes (metric label)', () => {
  const cases: [Error, string][] = [
    [new FhirFetchError('the FHIR server did not answer before the deadline'), 'timeout'],
    [new FhirFetchError('the FHIR server could not be reached (connection refused)'), 'network'],
    [new FhirFetchError("the FHIR server's answer was cut off (connection reset)"), 'network'],
    [new FhirFetchError('the FHIR server answered HTTP 401', 401), 'http_auth'],
    [new FhirFetchError('the FHIR server answered HTTP 404', 404), 'http_4xx'],
    [new FhirFetchError('the FHIR server answered HTTP 503', 503), 'http_5xx'],
    [new FhirFetchError('the FHIR server answered with something that is not JSON'), 'invalid_response'],
    [new FhirFetchError('the FHIR server answered with an OperationOutcome'), 'invalid_response'],
    [new FhirFetchError("the FHIR server's answer is larger than 100 bytes"), 'too_large'],
    [new FhirFetchError('more than 20 pages of results'), 'too_large'],
    [new FhirFetchError('a next link points to another server than fhirServer; it was not followed'), 'foreign_link'],
    [new Error('boom'), 'other'],
  ];
  it.each(cases.map(([err, reason]) => [err.message, reason, err] as const))('%s → %s', (_message, reason, err) => {
    expect(fetchErrorReason(err)).toBe(reason);
  });
});
