/** Checklist items 1–12: the discovery document, its prefetch templates, POST on every id, and CORS. */
import { randomUUID } from 'node:crypto';
import { emptyValues, preview, serviceCheck, targetCheck, Unavailable, type CheckDef, type SuiteContext } from './context';
import { templateTokens, tokenProblem } from './fhir';
import { isJsonContentType, saw, type Exchange } from './http';
import { Findings, fail, pass, skip } from './types';

/** The discovery document, or a SKIP because item 1 failed. */
async function discoveryDoc(ctx: SuiteContext): Promise<Record<string, unknown>> {
  const d = await ctx.discovery();
  if (!d.doc) throw new Unavailable(`no discovery document (item 1: ${d.exchange.status === 0 ? d.exchange.error : `HTTP ${d.exchange.status}`})`);
  return d.doc;
}

async function serviceEntries(ctx: SuiteContext): Promise<Record<string, unknown>[]> {
  const doc = await discoveryDoc(ctx);
  if (!Array.isArray(doc.services)) throw new Unavailable('discovery has no services array (item 2)');
  return doc.services.map((s) => (s && typeof s === 'object' ? (s as Record<string, unknown>) : {}));
}

const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const label = (s: Record<string, unknown>, i: number) => `services[${i}]${typeof s.id === 'string' ? ` (${s.id})` : ''}`;

/** Parameters the spec's recommended subset names, beyond ordinary search parameters. */
const SUBSET_SPECIAL = new Set(['_id', '_lastUpdated', '_count', '_sort']);
/** Outside the subset but common, and supported by most FHIR servers: reported as a note, not a failure. */
const TOLERATED = new Set(['_include', '_revinclude']);

/** Item 9: how a template strays from the recommended query subset (§prefetch-query-restrictions). */
export function querySubset(template: string): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  if (/^\//.test(template) || /^[a-z][a-z0-9+.-]*:/i.test(template)) problems.push('is not a relative FHIR query');
  const [path = '', query] = template.split(/\?(.*)/s);
  const read = /^[A-Z][A-Za-z]+\/[^/?$]+$/.test(path);
  const search = /^[A-Z][A-Za-z]+$/.test(path);
  if (!read && !search) problems.push(`path "${path}" is neither an instance read (Type/id) nor a type search (Type?…)`);
  if (read && query !== undefined) problems.push('an instance read with search parameters');
  for (const pair of (query ?? '').split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    const [base, modifier] = name.split(':');
    if (name === 'sort:desc' || name === 'sort:asc') {
      problems.push(`"${pair}" is not R4 search syntax (use _sort=${name === 'sort:desc' ? '-' : ''}${value})`);
      continue;
    }
    if (base!.includes('.')) problems.push(`"${name}" is a chained parameter`);
    if (modifier !== undefined && modifier !== 'in') problems.push(`"${name}" uses the modifier :${modifier} (only :in is in the subset)`);
    if (base!.startsWith('_')) {
      if (TOLERATED.has(base!)) notes.push(`${base} is outside the CDS Hooks 2.0 recommended query subset (EHRs need not support it)`);
      else if (!SUBSET_SPECIAL.has(base!)) problems.push(`"${base}" is outside the recommended query subset`);
    }
    if (base === '_count' && !/^\d+$/.test(value)) problems.push(`_count=${value} is not a number`);
    if (base === '_sort' && !value.split(',').every((v) => /^-?[A-Za-z][A-Za-z0-9_.-]*$/.test(v))) problems.push(`_sort=${value} is not R4 _sort syntax (e.g. _sort=-date)`);
    const plain = value.replace(/\{\{[^}]*\}\}/g, '');
    if (/^(ne|sa|eb|ap)\d/.test(plain)) problems.push(`"${pair}" uses the date prefix ${plain.slice(0, 2)} (only eq, lt, gt, ge, le)`);
  }
  return { problems, notes };
}

async function preflight(ctx: SuiteContext, url: string, method: string): Promise<{ exchange: Exchange; problems: string[] }> {
  const origin = 'https://conformance.il6-cds.invalid';
  const exchange = await ctx.call('OPTIONS', url, {
    label: `item 11: preflight ${url}`,
    token: null,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' },
  });
  const problems: string[] = [];
  const where = `OPTIONS ${url}`;
  if (exchange.status < 200 || exchange.status >= 300) {
    problems.push(`${where} → ${saw(exchange)}`);
    return { exchange, problems };
  }
  const allowOrigin = exchange.headers.get('access-control-allow-origin');
  if (allowOrigin !== '*' && allowOrigin !== origin) problems.push(`${where}: Access-Control-Allow-Origin is ${allowOrigin === null ? 'missing' : `"${allowOrigin}"`}`);
  const headers = (exchange.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',').map((h) => h.trim());
  // A wildcard never covers Authorization (Fetch standard).
  if (!headers.includes('authorization')) problems.push(`${where}: Access-Control-Allow-Headers does not allow Authorization (${headers.join(', ') || 'missing'})`);
  if (!headers.includes('content-type') && !headers.includes('*')) problems.push(`${where}: Access-Control-Allow-Headers does not allow Content-Type`);
  const methods = exchange.headers.get('access-control-allow-methods');
  if (methods !== null && !methods.toUpperCase().split(',').map((m) => m.trim()).some((m) => m === method || m === '*')) {
    problems.push(`${where}: Access-Control-Allow-Methods "${methods}" does not allow ${method}`);
  }
  return { exchange, problems };
}

export const discoveryChecks: CheckDef[] = [
  targetCheck(1, async (ctx) => {
    const { exchange: x, doc } = await ctx.discovery();
    if (x.status === 401 || x.status === 403) {
      return fail(
        `GET ${ctx.discoveryUrl} → ${saw(x)}`,
        `the target refused the suite's JWT, signed by ${ctx.opts.signer.source}: give --key and --iss of an issuer it trusts${ctx.opts.audBase ? '' : ' (and --aud-base if it checks audiences against another public URL)'}`,
      );
    }
    if (x.status !== 200) return fail(`GET ${ctx.discoveryUrl} → ${saw(x)}`);
    if (!doc) return fail(`the body is not a JSON object: ${saw(x)}`);
    return isJsonContentType(x) ? pass() : pass(`Content-Type is ${x.headers.get('content-type') ?? 'missing'}, not application/json`);
  }),
  targetCheck(2, async (ctx) => {
    const doc = await discoveryDoc(ctx);
    if (!Array.isArray(doc.services)) return fail(`services is ${preview(doc.services)}, not an array`);
    return pass(`${doc.services.length} service${doc.services.length === 1 ? '' : 's'}`);
  }),
  targetCheck(3, async (ctx) => {
    const f = new Findings();
    (await serviceEntries(ctx)).forEach((s, i) => {
      for (const field of ['hook', 'id', 'description']) f.expect(nonEmptyString(s[field]), `${label(s, i)}.${field} is ${preview(s[field])}`);
    });
    return f.outcome();
  }),
  targetCheck(4, async (ctx) => {
    const f = new Findings();
    (await serviceEntries(ctx)).forEach((s, i) => f.expect(nonEmptyString(s.title), `${label(s, i)}.title is ${s.title === undefined ? 'missing' : preview(s.title)}`));
    return f.outcome();
  }),
  targetCheck(5, async (ctx) => {
    const entries = await serviceEntries(ctx);
    if (ctx.opts.services.length > 0) {
      const f = new Findings();
      for (const id of ctx.opts.services) {
        const e = entries.find((s) => s.id === id);
        if (f.expect(!!e, `discovery lists no service "${id}"`)) f.expect(e!.hook === 'patient-view', `${id}.hook is ${preview(e!.hook)}, not "patient-view"`);
      }
      return f.outcome();
    }
    const pv = entries.filter((s) => s.hook === 'patient-view');
    if (pv.length === 0) return fail(`no service has hook "patient-view" (hooks: ${entries.map((s) => preview(s.hook)).join(', ') || 'none'})`);
    return pass(`patient-view: ${pv.map((s) => String(s.id)).join(', ')}`);
  }),
  targetCheck(6, async (ctx) => {
    const doc = await discoveryDoc(ctx);
    // `services: []` is how a server with no services answers; every other empty value is out.
    const problems = emptyValues(doc).filter((p) => p !== '$.services is []');
    return problems.length === 0 ? pass() : fail(...problems.slice(0, 12));
  }),
  targetCheck(7, async (ctx) => {
    const f = new Findings();
    (await serviceEntries(ctx)).forEach((s, i) => {
      if (s.prefetch === undefined) return;
      if (!f.expect(!!s.prefetch && typeof s.prefetch === 'object' && !Array.isArray(s.prefetch), `${label(s, i)}.prefetch is ${preview(s.prefetch)}, not an object`)) return;
      for (const [key, t] of Object.entries(s.prefetch as object)) f.expect(typeof t === 'string', `${label(s, i)}.prefetch.${key} is ${preview(t)}, not a string`);
    });
    return f.outcome();
  }),
  targetCheck(8, async (ctx) => {
    const f = new Findings();
    let n = 0;
    (await serviceEntries(ctx)).forEach((s, i) => {
      for (const [key, t] of Object.entries((s.prefetch as Record<string, unknown> | undefined) ?? {})) {
        if (typeof t !== 'string') continue;
        n++;
        for (const token of templateTokens(t)) {
          const problem = tokenProblem(token);
          if (problem) f.fail(`${label(s, i)}.prefetch.${key}: ${problem}`);
        }
      }
    });
    if (n === 0) f.note('no prefetch templates to check');
    return f.outcome();
  }),
  targetCheck(9, async (ctx) => {
    const f = new Findings();
    (await serviceEntries(ctx)).forEach((s, i) => {
      for (const [key, t] of Object.entries((s.prefetch as Record<string, unknown> | undefined) ?? {})) {
        if (typeof t !== 'string') continue;
        const { problems, notes } = querySubset(t);
        for (const p of problems) f.fail(`${label(s, i)}.prefetch.${key}: ${p}`);
        for (const n of notes) f.note(`${label(s, i)}.prefetch.${key}: ${n}`);
      }
    });
    return f.outcome();
  }),
  targetCheck(10, async (ctx) => {
    const f = new Findings();
    const entries = (await serviceEntries(ctx)).filter((s) => typeof s.id === 'string');
    if (entries.length === 0) return skip('discovery lists no service');
    for (const s of entries) {
      const prefetch = Object.fromEntries(Object.keys((s.prefetch as object | undefined) ?? {}).map((k) => [k, null]));
      const url = ctx.serviceUrl(s.id as string);
      const body = { hook: s.hook, hookInstance: randomUUID(), context: ctx.context(`conformance-nobody-${Date.now()}`), prefetch };
      const x = await ctx.call('POST', url, { label: `item 10: POST ${s.id as string}`, body });
      f.expect(x.status !== 0 && x.status !== 404 && x.status !== 405 && x.status !== 501 && x.status < 500, `POST ${url} → ${saw(x)}`);
    }
    return f.outcome();
  }),
  targetCheck(11, async (ctx) => {
    const f = new Findings();
    for (const p of (await preflight(ctx, ctx.discoveryUrl, 'GET')).problems) f.fail(p);
    let services: { url: string }[] = [];
    try {
      services = await ctx.services();
    } catch (err) {
      if (!(err instanceof Unavailable)) throw err;
      f.note(`service URLs not checked: ${err.message}`);
    }
    for (const s of services) for (const p of (await preflight(ctx, s.url, 'POST')).problems) f.fail(p);
    return f.outcome();
  }),
  serviceCheck(12, async (ctx, svc) => {
    const f = new Findings();
    const origin = 'https://conformance.il6-cds.invalid';
    const headers = { origin };
    const [main] = await ctx.mainCalls(svc);
    const probes = [
      await ctx.call('GET', ctx.discoveryUrl, { label: 'item 12: discovery with Origin', headers }),
      await ctx.call('POST', svc.url, { label: 'item 12: valid call with Origin', headers, body: { ...main!.request, hookInstance: randomUUID() } }),
      await ctx.call('POST', `${ctx.discoveryUrl}/conformance-no-such-service`, {
        label: 'item 12: error with Origin',
        headers,
        body: { ...main!.request, hookInstance: randomUUID() },
      }),
    ];
    for (const x of probes) {
      const v = x.headers.get('access-control-allow-origin');
      f.expect(v === '*' || v === origin, `${x.method} ${x.url} (HTTP ${x.status}): Access-Control-Allow-Origin is ${v === null ? 'missing' : `"${v}"`}`);
    }
    return f.outcome();
  }),
];

