/**
 * Checklist items 13–24: valid calls, prefetch semantics (null, OperationOutcome, absent), the FHIR fallback with
 * the access token, 412, error bodies and latency. Items 19–22 give the target the suite's own recording FHIR
 * server as `fhirServer`, so they see exactly what the target fetched, with which token, and can make it fail.
 */
import { randomUUID } from 'node:crypto';
import { preview, serviceCheck, Unavailable, type CheckDef, type ServiceUnderTest, type SuiteContext } from './context';
import { isJsonContentType, isOperationOutcome, saw, type Exchange } from './http';
import { Findings, fail, pass, skip } from './types';

const ACTIONS = ['create', 'update', 'delete'];

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** A FHIR access token made for this run, so its appearance anywhere can be traced. */
function fhirAuthorization(patient: string): Record<string, unknown> {
  return { access_token: `conformance-${randomUUID()}`, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds-conformance', patient };
}

/** The suite's recording FHIR server and one of its patients, with that patient's full prefetch read from it. */
async function observed(ctx: SuiteContext, svc: ServiceUnderTest) {
  const s = await ctx.suiteFhir();
  const patient = s.patients[0];
  if (!patient) throw new Unavailable('the suite FHIR server has no patient');
  const context = ctx.context(patient);
  const built = await ctx.prefetchFor(svc, context, { fhir: s.server.baseUrl });
  return { server: s.server, patient, context, prefetch: built.prefetch };
}

/** Calls the target while the suite FHIR server records what the target asks it for. */
async function callObserved(ctx: SuiteContext, svc: ServiceUnderTest, label: string, body: Record<string, unknown>) {
  const { server } = await ctx.suiteFhir();
  server.requests.length = 0;
  const exchange = await ctx.call('POST', svc.url, { label, body });
  return { exchange, fetched: [...server.requests] };
}

const summaries = (x: Exchange): string[] | undefined => {
  const cards = (x.json as { cards?: unknown } | undefined)?.cards;
  return Array.isArray(cards) ? cards.map((c) => String((c as { summary?: unknown })?.summary)).sort() : undefined;
};

function needsPrefetch(svc: ServiceUnderTest): void {
  if (Object.keys(svc.prefetch).length === 0) throw new Unavailable('the service declares no prefetch templates, so there is no data it could be missing');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export const invocationChecks: CheckDef[] = [
  serviceCheck(13, async (ctx, svc) => {
    const f = new Findings();
    for (const c of await ctx.mainCalls(svc)) {
      const x = c.exchange;
      if (!f.expect(x.status === 200, `patient ${c.patient}: ${saw(x)}`)) continue;
      f.expect(isObject(x.json), `patient ${c.patient}: the body is not a JSON object: ${saw(x)}`);
      if (!isJsonContentType(x)) f.note(`Content-Type is ${x.headers.get('content-type') ?? 'missing'}, not application/json`);
    }
    const built = await ctx.prefetchFor(svc, ctx.context((await ctx.data()).patients[0]!));
    f.note(`prefetch keys sent: ${Object.keys(built.prefetch).join(', ') || 'none'}`);
    for (const [k, why] of Object.entries(built.omitted)) f.note(`prefetch key ${k} left out: ${why}`);
    return f.outcome();
  }),
  serviceCheck(14, async (ctx, svc) => {
    const f = new Findings();
    const ok = (await ctx.mainCalls(svc)).filter((c) => c.exchange.status === 200);
    if (ok.length === 0) return skip('no valid call answered 200 (item 13)');
    let cards = 0;
    for (const c of ok) {
      const v = (c.exchange.json as { cards?: unknown } | undefined)?.cards;
      if (f.expect(Array.isArray(v), `patient ${c.patient}: cards is ${v === undefined ? 'missing' : preview(v)}`)) cards += (v as unknown[]).length;
    }
    f.note(`${cards} card${cards === 1 ? '' : 's'} from ${ok.length} call${ok.length === 1 ? '' : 's'}`);
    return f.outcome();
  }),
  serviceCheck(15, async (ctx, svc) => {
    const f = new Findings();
    const responses = await ctx.responses(svc);
    if (responses.length === 0) return skip('no valid call answered 200 (item 13)');
    let seen = 0;
    for (const { where, body } of responses) {
      const sa = body.systemActions;
      if (sa === undefined) continue;
      if (!f.expect(Array.isArray(sa), `${where}: systemActions is ${preview(sa)}, not an array`)) continue;
      (sa as unknown[]).forEach((a, i) => {
        seen++;
        const at = `${where}: systemActions[${i}]`;
        if (!f.expect(isObject(a), `${at} is not an object`)) return;
        const action = a as Record<string, unknown>;
        f.expect(ACTIONS.includes(action.type as string), `${at}.type is ${preview(action.type)}`);
        if (action.type === 'create' || action.type === 'update') f.expect(isObject(action.resource) && typeof action.resource.resourceType === 'string', `${at} (${String(action.type)}) has no FHIR resource`);
        if (action.type === 'delete') f.expect(typeof action.resourceId === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(action.resourceId), `${at} (delete) has resourceId ${preview(action.resourceId)}, not Type/id`);
        if (action.description !== undefined) f.expect(typeof action.description === 'string' && action.description !== '', `${at}.description is ${preview(action.description)}`);
      });
    }
    if (seen === 0) f.note('no response carried systemActions');
    return f.outcome();
  }),
  serviceCheck(16, async (ctx, svc) => {
    const { fhir, token } = await ctx.data();
    const context = ctx.context(`conformance-nobody-${randomUUID().slice(0, 8)}`);
    const { prefetch } = await ctx.prefetchFor(svc, context, { fhir, ...(token ? { token } : {}) });
    const x = await ctx.call('POST', svc.url, { label: 'item 16: a patient with no data', body: ctx.request(svc, context, prefetch) });
    if (x.status !== 200) return fail(`a patient with no data (${context.patientId}, every prefetch key null or an empty Bundle) → ${saw(x)}`);
    const body = x.json as { cards?: unknown } | undefined;
    if (!isObject(body) || !Array.isArray(body.cards)) return fail(`the body has no cards array: ${saw(x)}`);
    if (body.cards.length > 0) return skip(`even a patient with no data got ${body.cards.length} card(s), so no call without guidance could be made`);
    const keys = Object.keys(body);
    return keys.length === 1 ? pass() : fail(`no guidance should be exactly {"cards":[]}; the body is ${saw(x)}`);
  }),
  serviceCheck(17, async (ctx, svc) => {
    const f = new Findings();
    const [main] = await ctx.mainCalls(svc);
    f.expect(main!.exchange.status === 200, `without encounterId (patient ${main!.patient}): ${saw(main!.exchange)}`);
    const context = ctx.context(main!.patient, { encounterId: 'conformance-encounter-1' });
    const { prefetch } = await ctx.prefetchFor(svc, context);
    const x = await ctx.call('POST', svc.url, { label: 'item 17: with encounterId', body: ctx.request(svc, context, prefetch) });
    if (f.expect(x.status === 200, `with encounterId: ${saw(x)}`)) f.expect(Array.isArray((x.json as { cards?: unknown } | undefined)?.cards), `with encounterId: no cards array: ${saw(x)}`);
    return f.outcome();
  }),
  serviceCheck(18, async (ctx, svc) => {
    const [main] = await ctx.mainCalls(svc);
    const [again] = await ctx.secondCalls(svc);
    const body = { ...main!.request, hookInstance: randomUUID(), conformanceUnknownField: { note: 'ignore me' }, extension: { 'org.example.conformance': { flag: true } } };
    const x = await ctx.call('POST', svc.url, { label: 'item 18: unknown field and extension', body });
    if (x.status !== 200) return fail(`with an unknown top-level field and an extension object: ${saw(x)} (without them: HTTP ${main!.exchange.status})`);
    const before = summaries(main!.exchange);
    const repeat = summaries(again!.exchange);
    const now = summaries(x);
    if (!before || JSON.stringify(before) !== JSON.stringify(repeat)) return pass('the service answers the same request differently, so only the status was compared');
    return JSON.stringify(before) === JSON.stringify(now) ? pass() : fail(`the cards changed: without the fields ${preview(before, 200)}, with them ${preview(now, 200)}`);
  }),
  serviceCheck(19, async (ctx, svc) => {
    needsPrefetch(svc);
    const o = await observed(ctx, svc);
    const prefetch = Object.fromEntries(Object.keys(o.prefetch).map((k) => [k, null]));
    const body = ctx.request(svc, o.context, prefetch, { fhirServer: o.server.baseUrl, fhirAuthorization: fhirAuthorization(o.patient) });
    const { exchange: x, fetched } = await callObserved(ctx, svc, 'item 19: every prefetch key null', body);
    const f = new Findings();
    f.expect(x.status === 200, `every prefetch key null (with fhirServer): ${saw(x)}`);
    f.expect(fetched.length === 0, () => `the service re-queried data the prefetch said does not exist: ${fetched.map((r) => `${r.method} ${r.url.split('?')[0]}`).join(', ')}`);
    return f.outcome();
  }),
  serviceCheck(20, async (ctx, svc) => {
    needsPrefetch(svc);
    const o = await observed(ctx, svc);
    const keys = Object.keys(o.prefetch);
    if (keys.length === 0) return skip('no prefetch key could be built for the patient');
    const key = keys.find((k) => String(svc.prefetch[k]).includes('?')) ?? keys[0]!;
    const type = String(svc.prefetch[key]).split(/[/?]/)[0]!;
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout', diagnostics: 'the EHR could not run this query (conformance suite)' }] };
    const body = ctx.request(svc, o.context, { ...o.prefetch, [key]: oo as never }, { fhirServer: o.server.baseUrl, fhirAuthorization: fhirAuthorization(o.patient) });
    const { exchange: x, fetched } = await callObserved(ctx, svc, `item 20: prefetch ${key} is an OperationOutcome`, body);
    if (x.status === 412) return pass(`prefetch.${key} as an OperationOutcome → 412`);
    if (x.status !== 200) return fail(`prefetch.${key} as an OperationOutcome → ${saw(x)} (expected 200 with the data fetched from fhirServer, or 412)`);
    const refetched = fetched.filter((r) => r.url.replace(/^\/fhir\//, '').startsWith(type));
    if (refetched.length > 0) return pass(`prefetch.${key} as an OperationOutcome → fetched ${type} from fhirServer instead`);
    return fail(`prefetch.${key} as an OperationOutcome → 200 without fetching ${type} from fhirServer: the OperationOutcome was used as data (or ignored)`);
  }),
  serviceCheck(21, async (ctx, svc) => {
    needsPrefetch(svc);
    const o = await observed(ctx, svc);
    const auth = fhirAuthorization(o.patient);
    const body = ctx.request(svc, o.context, undefined, { fhirServer: o.server.baseUrl, fhirAuthorization: auth });
    const { exchange: x, fetched } = await callObserved(ctx, svc, 'item 21: no prefetch, fhirServer and fhirAuthorization', body);
    const f = new Findings();
    if (fetched.length === 0) {
      return fail(
        `no prefetch, fhirServer ${o.server.baseUrl} with fhirAuthorization → ${saw(x)}, and the service fetched nothing from it`,
        'if the target may contact only configured FHIR servers for this issuer, allowlist the suite FHIR server (--fhir-host/--fhir-port fix its address)',
      );
    }
    f.expect(x.status === 200, `no prefetch, data fetched from fhirServer → ${saw(x)}`);
    const bad = fetched.filter((r) => r.authorization !== `Bearer ${auth.access_token as string}`);
    f.expect(bad.length === 0, () => `${bad.length} of ${fetched.length} FHIR requests did not carry Bearer <access_token> (e.g. ${bad[0]!.method} ${bad[0]!.url.split('?')[0]}: ${bad[0]!.authorization ? 'another token' : 'no Authorization'})`);
    f.note(`${fetched.length} FHIR request${fetched.length === 1 ? '' : 's'} (${[...new Set(fetched.map((r) => r.method))].join(', ')}) with the access token`);
    return f.outcome();
  }),
  serviceCheck(22, async (ctx, svc) => {
    needsPrefetch(svc);
    const f = new Findings();
    const o = await observed(ctx, svc);
    const none = await ctx.call('POST', svc.url, { label: 'item 22: no prefetch, no fhirServer', body: ctx.request(svc, o.context) });
    f.expect(none.status === 412, `no prefetch and no fhirServer → ${saw(none)}`);
    for (const status of [401, 500]) {
      o.server.setFault({ status });
      try {
        const body = ctx.request(svc, o.context, undefined, { fhirServer: o.server.baseUrl, fhirAuthorization: fhirAuthorization(o.patient) });
        const x = await ctx.call('POST', svc.url, { label: `item 22: fhirServer answers ${status}`, body });
        f.expect(x.status === 412, `no prefetch, fhirServer answering HTTP ${status} → ${saw(x)}`);
      } finally {
        o.server.setFault(undefined);
      }
    }
    return f.outcome();
  }),
  serviceCheck(23, async (ctx, svc) => {
    // Some non-2xx answers of its own, so the item is decided even when run alone; then every one of the run.
    const [main] = await ctx.mainCalls(svc);
    await ctx.call('POST', `${ctx.discoveryUrl}/conformance-no-such-service`, { label: 'item 23: unknown service', body: { ...main!.request, hookInstance: randomUUID() } });
    await ctx.call('POST', svc.url, { label: 'item 23: not JSON', body: '{"hook": "patient-view",' });
    if (Object.keys(svc.prefetch).length > 0) await ctx.call('POST', svc.url, { label: 'item 23: no prefetch', body: ctx.request(svc, ctx.context(main!.patient)) });
    const f = new Findings();
    const errors = ctx.http.exchanges.filter((x) => x.status >= 400 && x.method !== 'OPTIONS');
    for (const x of errors) f.expect(isOperationOutcome(x.json), `${x.label}: ${saw(x)} — not an OperationOutcome`);
    f.note(`${errors.length} non-2xx answers looked at (${[...new Set(errors.map((x) => x.status))].sort().join(', ')})`);
    return f.outcome();
  }),
  serviceCheck(24, async (ctx, svc) => {
    const [main] = await ctx.mainCalls(svc);
    if (main!.exchange.status !== 200) return skip(`the valid call does not answer 200 (item 13: HTTP ${main!.exchange.status})`);
    const times: number[] = [];
    const f = new Findings();
    for (let i = 0; i < ctx.opts.latencyCalls; i++) {
      const x = await ctx.call('POST', svc.url, { label: 'item 24: latency', body: { ...main!.request, hookInstance: randomUUID() } });
      if (!f.expect(x.status === 200, `call ${i + 1}: ${saw(x)}`)) break;
      times.push(x.ms);
    }
    if (f.failed) return f.outcome();
    const sorted = times.sort((a, b) => a - b);
    const p95 = percentile(sorted, 0.95);
    const words = `p95 ${p95.toFixed(0)} ms, p50 ${percentile(sorted, 0.5).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms over ${sorted.length} calls with full prefetch (patient ${main!.patient})`;
    return p95 <= ctx.opts.latencyBudgetMs ? pass(words) : fail(`${words}: above ${ctx.opts.latencyBudgetMs} ms`);
  }),
];

