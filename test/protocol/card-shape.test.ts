/**
 * CDS Hooks 2.0 conformance, card shape: checklist items 25–39 of docs/cds-hooks.md. Each item is checked
 * twice: on the real cards of every kind the IL-6 service issues, and on a card that breaks the rule, which
 * the response schema (used on every response of the suite) must reject.
 */
import type { Card, CdsResponse } from '../../src/cds-hooks/types';
import { schemaIssues } from '../../src/cds-hooks/validation';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import type { RunningServer } from '../../src/server';
import { emptyValues, hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';

const ID = 'il6-inflammation';
let service: RunningServer;
let cards: Card[] = [];
let responses: CdsResponse[] = [];

/** One fixture per finding code, so every kind of card is looked at. */
const slugs = [
  'interference-tocilizumab-active-request',
  'confounder-fever-38-0-cel',
  'persistent-rheumatoid-arthritis-known',
  'tier-boundary-7-01-significant',
  'trend-volatile',
  'hscrp-c-both-high',
  'metabolic-hba1c-5-7',
  'measure-hscrp-5-4-no-il6',
];

beforeAll(async () => {
  service = await startTestService();
  const all = new Map(listFixtures().map((f) => [f.slug, f]));
  for (const slug of slugs) {
    const f = all.get(slug);
    if (!f) throw new Error(`fixture ${slug} is missing`);
    const prefetch = buildPrefetch(service.registry.get(ID)!.definition.prefetch!, fixtureResources(f), f.expected.patient);
    const reply = await postHook(service.url, ID, hookRequest(f.expected.patient, { prefetch }));
    responses.push(reply.body as CdsResponse);
  }
  cards = responses.flatMap((r) => r.cards);
});
afterAll(() => service.close());

const good: Card = {
  summary: 'ok',
  indicator: 'info',
  source: { label: 'il6-cds' },
};
/** Schema issues of a response holding one card changed by `change`. */
const issuesWith = (change: Partial<Card> | ((c: Card) => Card)) => {
  const card = typeof change === 'function' ? change(structuredClone(good)) : { ...good, ...change };
  return schemaIssues('response', { cards: [card] });
};

describe('card shape (checklist 25–39)', () => {
  it('covers every finding the IL-6 service can issue', () => {
    expect(new Set(cards.map((c) => c.source.topic?.code))).toEqual(
      new Set(['il6-interference', 'il6-confounded', 'il6-persistent', 'il6-unconfirmed', 'il6-trend', 'il6-hscrp', 'il6-metabolic', 'il6-measure']),
    );
  });

  it('item 25: summary is a string under 140 characters', () => {
    for (const c of cards) expect(c.summary.length).toBeLessThanOrEqual(139);
    expect(issuesWith({ summary: 'x'.repeat(140) })).not.toEqual([]);
    expect(issuesWith({ summary: 'x'.repeat(139) })).toEqual([]);
  });

  it('item 26: indicator is info, warning or critical', () => {
    for (const c of cards) expect(['info', 'warning', 'critical']).toContain(c.indicator);
    expect(issuesWith({ indicator: 'hard-stop' as Card['indicator'] })).not.toEqual([]);
  });

  it('item 27: source.label is non-empty; url and icon, if present, are absolute', () => {
    for (const c of cards) expect(c.source.label).toMatch(/^IL-6 inflammation advisor · rules \d+\.\d+\.\d+ \(default\)$/);
    expect(issuesWith({ source: { label: '' } })).not.toEqual([]);
    expect(issuesWith({ source: { label: 'x', url: '/about' } })).not.toEqual([]);
    expect(issuesWith({ source: { label: 'x', icon: 'icon.png' } })).not.toEqual([]);
  });

  it('item 28: source.topic is a Coding with code and system', () => {
    for (const c of cards) expect(c.source.topic).toEqual({ system: 'urn:il6-cds:finding', code: expect.stringMatching(/^il6-/), display: expect.any(String) });
    expect(issuesWith({ source: { label: 'x', topic: { code: 'a' } as never } })).not.toEqual([]);
  });

  it('item 29: detail, if present, is a non-empty Markdown string', () => {
    for (const c of cards) expect(c.detail).toMatch(/^\*\*.+\*\*/);
    expect(issuesWith({ detail: '' })).not.toEqual([]);
  });

  it('item 30: suggestions imply selectionBehavior any|at-most-one', () => {
    const withSuggestions = cards.filter((c) => c.suggestions);
    expect(withSuggestions.length).toBeGreaterThan(0);
    for (const c of withSuggestions) expect(c.selectionBehavior).toBe('any');
    expect(issuesWith({ suggestions: [{ label: 'x' }] })).not.toEqual([]);
    expect(issuesWith({ suggestions: [{ label: 'x' }], selectionBehavior: 'all' as never })).not.toEqual([]);
  });

  it('item 31: with at-most-one, at most one suggestion is recommended', () => {
    for (const c of cards.filter((x) => x.selectionBehavior === 'at-most-one')) expect(c.suggestions!.filter((s) => s.isRecommended).length).toBeLessThanOrEqual(1);
    const two = [{ label: 'a', isRecommended: true }, { label: 'b', isRecommended: true }];
    expect(issuesWith({ suggestions: two, selectionBehavior: 'at-most-one' })).not.toEqual([]);
    expect(issuesWith({ suggestions: two, selectionBehavior: 'any' })).toEqual([]);
  });

  it('item 32: every suggestion has a label; isRecommended is boolean', () => {
    for (const s of cards.flatMap((c) => c.suggestions ?? [])) {
      expect(s.label.length).toBeGreaterThan(0);
      if (s.isRecommended !== undefined) expect(typeof s.isRecommended).toBe('boolean');
    }
    expect(issuesWith({ suggestions: [{ label: 'a', isRecommended: 'yes' as never }], selectionBehavior: 'any' })).not.toEqual([]);
  });

  it('item 33: every action has type create|update|delete and a description', () => {
    const actions = cards.flatMap((c) => c.suggestions ?? []).flatMap((s) => s.actions ?? []);
    expect(actions.length).toBeGreaterThan(0);
    for (const a of actions) {
      expect(a.type).toBe('create');
      expect(a.description).toMatch(/^Draft order: /);
    }
    expect(issuesWith({ suggestions: [{ label: 'a', actions: [{ type: 'create', resource: { resourceType: 'ServiceRequest', status: 'draft' } } as never] }], selectionBehavior: 'any' })).not.toEqual([]);
  });

  it('item 34: creates carry a full draft ServiceRequest with a LOINC code; deletes need Type/id', () => {
    const patientRefs = new Set<string>();
    for (const a of cards.flatMap((c) => c.suggestions ?? []).flatMap((s) => s.actions ?? [])) {
      const r = a.resource as { resourceType: string; status: string; intent: string; code: { coding: { system: string }[] }; subject: { reference: string } };
      expect(r).toMatchObject({ resourceType: 'ServiceRequest', status: 'draft', intent: 'proposal' });
      expect(r.code.coding[0]!.system).toBe('http://loinc.org');
      patientRefs.add(r.subject.reference.split('/')[0]!);
    }
    expect([...patientRefs]).toEqual(['Patient']);
    expect(issuesWith({ suggestions: [{ label: 'a', actions: [{ type: 'create', description: 'x' }] }], selectionBehavior: 'any' })).not.toEqual([]);
    expect(issuesWith({ suggestions: [{ label: 'a', actions: [{ type: 'delete', description: 'x', resourceId: 'not-a-ref' }] }], selectionBehavior: 'any' })).not.toEqual([]);
  });

  it('item 35: every overrideReason has code, system and display', () => {
    for (const c of cards) {
      expect(c.overrideReasons!.length).toBeGreaterThan(0);
      for (const r of c.overrideReasons!) expect(r).toEqual({ system: expect.any(String), code: expect.any(String), display: expect.any(String) });
    }
    expect(issuesWith({ overrideReasons: [{ system: 's', code: 'c' } as never] })).not.toEqual([]);
  });

  it('item 36: every link has a label, an absolute url and type absolute|smart', () => {
    for (const l of cards.flatMap((c) => c.links ?? [])) expect(l.url).toMatch(/^https?:\/\//);
    expect(issuesWith({ links: [{ label: 'x', url: '/relative', type: 'absolute' }] })).not.toEqual([]);
    expect(issuesWith({ links: [{ label: 'x', url: 'https://example.org', type: 'web' as never }] })).not.toEqual([]);
    expect(issuesWith({ links: [{ label: 'x', url: 'https://example.org', type: 'absolute' }] })).toEqual([]);
  });

  it('item 37: no absolute link carries appContext', () => {
    for (const l of cards.flatMap((c) => c.links ?? [])) if (l.type === 'absolute') expect(l.appContext).toBeUndefined();
    expect(issuesWith({ links: [{ label: 'x', url: 'https://example.org', type: 'absolute', appContext: '{}' }] })).not.toEqual([]);
    expect(issuesWith({ links: [{ label: 'x', url: 'https://example.org/launch', type: 'smart', appContext: '{}' }] })).toEqual([]);
  });

  it('item 38: cards and suggestions carry uuids that differ across calls', async () => {
    const f = listFixtures().find((x) => x.slug === slugs[2])!;
    const prefetch = buildPrefetch(service.registry.get(ID)!.definition.prefetch!, fixtureResources(f), f.expected.patient);
    const again = (await postHook(service.url, ID, hookRequest(f.expected.patient, { prefetch }))).body as CdsResponse;
    const uuids = (rs: CdsResponse[]) => rs.flatMap((r) => r.cards.flatMap((c) => [c.uuid, ...(c.suggestions ?? []).map((s) => s.uuid)]));
    const first = uuids(responses);
    for (const u of first) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(first).size).toBe(first.length);
    for (const u of uuids([again])) expect(first).not.toContain(u);
  });

  it('item 39: no null or empty values anywhere in a response', () => {
    for (const r of responses) expect(emptyValues(r)).toEqual([]);
    expect(issuesWith({ detail: null as never })).not.toEqual([]);
    expect(issuesWith({ suggestions: [], selectionBehavior: 'any' })).not.toEqual([]);
  });
});
