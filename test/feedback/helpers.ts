/** Shared by the feedback HTTP tests: a patient whose cards carry suggestions, hook calls and feedback posts. */
import type { Card, CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import type { Summary } from '../../src/store/types';
import { hookRequest, postHook } from '../support/cds-client';

export const SERVICE = 'il6-inflammation';
export const REASON_SYSTEM = 'urn:il6-cds:override-reason';

const fixture = listFixtures().find((f) => f.slug === 'combo-persistent-rising-trend')!;
export const PATIENT = fixture.expected.patient;
const resources = fixtureResources(fixture);

/** Calls the hook like an EHR with full prefetch; returns the cards (each with a uuid). */
export async function issueCards(baseUrl: string, prefetchTemplates: Record<string, string>, headers: Record<string, string> = {}): Promise<Card[]> {
  const reply = await postHook(baseUrl, SERVICE, hookRequest(PATIENT, { prefetch: buildPrefetch(prefetchTemplates, resources, PATIENT) }), headers);
  if (reply.status !== 200) throw new Error(`hook answered ${reply.status}`);
  const cards = (reply.body as CdsResponse).cards;
  if (cards.length === 0 || cards.some((c) => !c.uuid)) throw new Error('expected cards with uuids');
  return cards;
}

export interface Reply {
  status: number;
  body: unknown;
  headers: Headers;
}

export async function postFeedback(baseUrl: string, body: unknown, serviceId = SERVICE, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${baseUrl}/cds-services/${serviceId}/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: res.headers };
}

export async function getSummary(baseUrl: string, query = '', serviceId = SERVICE, headers: Record<string, string> = {}): Promise<Reply & { summary: Summary }> {
  const res = await fetch(`${baseUrl}/cds-services/${serviceId}/feedback/summary${query}`, { headers });
  const body = (await res.json()) as unknown;
  return { status: res.status, body, headers: res.headers, summary: body as Summary };
}

/** What the CDS Hooks sandbox sends when a card is dismissed with a reason: code and system, no display. */
export function sandboxOverride(cardUuid: string, code = 'not-relevant'): unknown {
  return { feedback: [{ card: cardUuid, outcome: 'overridden', overrideReason: { reason: { code, system: REASON_SYSTEM } }, outcomeTimestamp: new Date().toISOString() }] };
}

export function accepted(cardUuid: string, suggestionUuid: string): unknown {
  return { feedback: [{ card: cardUuid, outcome: 'accepted', acceptedSuggestions: [{ id: suggestionUuid }], outcomeTimestamp: new Date().toISOString() }] };
}
