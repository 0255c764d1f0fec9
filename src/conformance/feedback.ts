/**
 * Checklist items 57–59: the feedback endpoint (`POST {service}/feedback`, CDS Hooks 2.0 §feedback), which a
 * service MAY offer. Feedback names real cards and suggestions from the valid calls when there are any. A target
 * that answers 404/405/501 there offers no feedback: the three items SKIP.
 */
import { randomUUID } from 'node:crypto';
import { serviceCheck, Unavailable, type CheckDef, type ServiceUnderTest, type SuiteContext } from './context';
import { saw, type Exchange } from './http';
import { Findings, pass } from './types';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** RFC 3339 UTC without fractions, as the spec's example. */
const timestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Picked {
  card: string;
  suggestion?: string;
  reason?: { system: string; code: string };
  /** The card came from the service (not made up). */
  real: boolean;
}

/** A card with a uuid from the valid calls: preferably one with a suggestion that has a uuid, and override reasons. */
async function pickCard(ctx: SuiteContext, svc: ServiceUnderTest): Promise<Picked> {
  const cards = (await ctx.mainCalls(svc)).flatMap((c) => {
    const list = (c.exchange.json as { cards?: unknown } | undefined)?.cards;
    return c.exchange.status === 200 && Array.isArray(list) ? list.filter(isObject) : [];
  });
  const withUuid = cards.filter((c) => typeof c.uuid === 'string' && c.uuid !== '');
  const suggestionUuid = (c: Obj) => (Array.isArray(c.suggestions) ? c.suggestions.find((s) => isObject(s) && typeof s.uuid === 'string')?.uuid : undefined) as string | undefined;
  const reasonOf = (c: Obj) => {
    const r = Array.isArray(c.overrideReasons) ? c.overrideReasons.find((x) => isObject(x) && typeof x.code === 'string' && typeof x.system === 'string') : undefined;
    return r ? { system: (r as Obj).system as string, code: (r as Obj).code as string } : undefined;
  };
  const best = withUuid.find((c) => suggestionUuid(c)) ?? withUuid[0];
  if (!best) return { card: randomUUID(), real: false };
  return { card: best.uuid as string, suggestion: suggestionUuid(best), reason: reasonOf(best) ?? withUuid.map(reasonOf).find(Boolean), real: true };
}

async function post(ctx: SuiteContext, svc: ServiceUnderTest, label: string, body: unknown): Promise<Exchange> {
  return ctx.call('POST', svc.feedbackUrl, { label, body });
}

/** Item 57's call, made once: it also tells whether the target offers feedback at all. */
function accepted(ctx: SuiteContext, svc: ServiceUnderTest): Promise<{ exchange: Exchange; picked: Picked }> {
  return ctx.once(`feedback-accepted:${svc.id}`, async () => {
    const picked = await pickCard(ctx, svc);
    const item = { card: picked.card, outcome: 'accepted', acceptedSuggestions: [{ id: picked.suggestion ?? randomUUID() }], outcomeTimestamp: timestamp() };
    return { exchange: await post(ctx, svc, 'item 57: accepted feedback', { feedback: [item] }), picked };
  });
}

async function requireFeedback(ctx: SuiteContext, svc: ServiceUnderTest): Promise<{ exchange: Exchange; picked: Picked }> {
  const a = await accepted(ctx, svc);
  if ([404, 405, 501].includes(a.exchange.status)) throw new Unavailable(`the target offers no feedback endpoint (POST ${svc.feedbackUrl} → HTTP ${a.exchange.status}); feedback is optional (MAY)`);
  return a;
}

const ok = (x: Exchange) => x.status === 200 || x.status === 204;

export const feedbackChecks: CheckDef[] = [
  serviceCheck(57, async (ctx, svc) => {
    const { exchange: x, picked } = await requireFeedback(ctx, svc);
    const f = new Findings();
    f.expect(ok(x), `accepted feedback for card ${picked.card}${picked.suggestion ? ` and suggestion ${picked.suggestion}` : ''} → ${saw(x)} (expected 200 or 204)`);
    if (!picked.real) f.note('the valid calls returned no card with a uuid: the feedback named a made-up card');
    else if (!picked.suggestion) f.note('no card had a suggestion with a uuid: acceptedSuggestions named a made-up one');
    return f.outcome();
  }),
  serviceCheck(58, async (ctx, svc) => {
    const { picked } = await requireFeedback(ctx, svc);
    const reason = picked.reason ?? { system: 'urn:il6-cds:conformance', code: 'not-relevant' };
    // As the sandbox sends it: a reason Coding with only system and code.
    const item = { card: picked.card, outcome: 'overridden', overrideReason: { reason }, outcomeTimestamp: timestamp() };
    const x = await post(ctx, svc, 'item 58: overridden feedback', { feedback: [item] });
    const f = new Findings();
    f.expect(ok(x), `overridden feedback with overrideReason.reason ${JSON.stringify(reason)} (no display) → ${saw(x)} (expected 200 or 204)`);
    if (!picked.reason) f.note("no card had overrideReasons: the reason was made up");
    return f.outcome();
  }),
  serviceCheck(59, async (ctx, svc) => {
    const { picked } = await requireFeedback(ctx, svc);
    const f = new Findings();
    const noSuggestions = await post(ctx, svc, 'item 59: accepted without acceptedSuggestions', { feedback: [{ card: picked.card, outcome: 'accepted', outcomeTimestamp: timestamp() }] });
    f.expect(noSuggestions.status === 400, `accepted feedback without acceptedSuggestions → ${saw(noSuggestions)} (expected 400)`);
    const unknown = await post(ctx, svc, 'item 59: unknown outcome', { feedback: [{ card: picked.card, outcome: 'ignored', outcomeTimestamp: timestamp() }] });
    f.expect(unknown.status === 400, `feedback with outcome "ignored" → ${saw(unknown)} (expected 400)`);
    return f.failed ? f.outcome() : pass();
  }),
];
