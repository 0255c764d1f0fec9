/**
 * Checklist items 45–56: client authentication (refusals of missing, unsigned, HMAC, mis-addressed, expired,
 * incomplete, foreign and replayed tokens; acceptance of good ones), the SSRF guard and TLS.
 *
 * Refusals are only meaningful when the target accepts the suite's good tokens: a check that needs that SKIPs
 * when it does not (item 1 then says why), and checks of a target that answers without any token SKIP as
 * "authentication not enabled" (item 45 reports that).
 */
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { sleep, targetCheck, Unavailable, type CheckDef, type ServiceUnderTest, type SuiteContext } from './context';
import { nonLoopbackAddress, startRecordingServer } from './fhir';
import { saw, type Exchange } from './http';
import { hmacToken, strangerSigner, unsignedToken } from './tokens';
import { DEV_ISSUER } from '../auth/dev-issuer';
import { Findings, fail, pass, skip } from './types';

async function requireAuth(ctx: SuiteContext): Promise<void> {
  const { required, exchange } = await ctx.authRequired();
  if (!required) throw new Unavailable(`the target answers discovery without a JWT (${saw(exchange)}): authentication is not enabled, so there is nothing to refuse (item 45)`);
}

async function requireTrust(ctx: SuiteContext): Promise<void> {
  await requireAuth(ctx);
  if (!(await ctx.trusted())) throw new Unavailable(`the target does not accept the suite's tokens (item 1: HTTP ${(await ctx.discovery()).exchange.status}), so a refusal would prove nothing`);
}

/** The first service under test, if discovery got that far. */
async function firstService(ctx: SuiteContext): Promise<ServiceUnderTest | undefined> {
  try {
    return (await ctx.services())[0];
  } catch (err) {
    if (err instanceof Unavailable) return undefined;
    throw err;
  }
}

/**
 * A valid body for the service: the first valid call's (full prefetch), with a new hookInstance; failing that, a
 * patient with every prefetch key null.
 */
async function body(ctx: SuiteContext, svc: ServiceUnderTest): Promise<Record<string, unknown>> {
  const main = await ctx.mainCalls(svc).catch(() => []);
  if (main[0]) return { ...main[0].request, hookInstance: randomUUID() };
  const prefetch = Object.fromEntries(Object.keys(svc.prefetch).map((k) => [k, null]));
  return ctx.request(svc, ctx.context(`conformance-nobody-${randomUUID().slice(0, 8)}`), prefetch);
}

interface Target {
  url: string;
  method: 'GET' | 'POST';
  body?: unknown;
}

async function targets(ctx: SuiteContext): Promise<Target[]> {
  const svc = await firstService(ctx);
  return [{ url: ctx.discoveryUrl, method: 'GET' }, ...(svc ? [{ url: svc.url, method: 'POST' as const, body: await body(ctx, svc) }] : [])];
}

/** Records a problem unless `x` is a refusal (401; 403 is noted, the checklist says 401). */
function expectRefused(f: Findings, what: string, x: Exchange): void {
  if (x.status === 403) f.note(`${what} → 403 (refused, but the checklist expects 401)`);
  else f.expect(x.status === 401, `${what} → ${saw(x)} (expected 401)`);
}

const REVEALING = /\b(expired?|exp|aud|audience|signature|issuer|iss|jti|replay(ed)?|kid|alg|algorithm|hs256|typ|jku|iat|nbf|tenant|untrusted|not trusted)\b/i;

interface TlsResult {
  ok: boolean;
  protocol?: string | null;
  code?: string;
  message?: string;
}

function handshake(url: URL, opts: tls.ConnectionOptions, timeoutMs: number): Promise<TlsResult> {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
    const socket = tls.connect({ host, port: Number(url.port || 443), rejectUnauthorized: false, ...(servername ? { servername } : {}), ...opts });
    const done = (r: TlsResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, code: 'ETIMEDOUT', message: 'no handshake in time' }), timeoutMs);
    socket.once('secureConnect', () => done({ ok: true, protocol: socket.getProtocol() }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code, message: err.message }));
  });
}

export const securityChecks: CheckDef[] = [
  targetCheck(45, async (ctx) => {
    const f = new Findings();
    const { exchange } = await ctx.authRequired();
    expectRefused(f, `GET ${ctx.discoveryUrl} without Authorization`, exchange);
    const svc = await firstService(ctx);
    if (svc) expectRefused(f, `POST ${svc.url} without Authorization`, await ctx.call('POST', svc.url, { label: 'item 45: call without Authorization', token: null, body: await body(ctx, svc) }));
    return f.outcome();
  }),
  targetCheck(46, async (ctx) => {
    await requireAuth(ctx);
    const f = new Findings();
    const { iss, keys } = ctx.opts.signer;
    for (const t of await targets(ctx)) {
      const x = await ctx.call(t.method, t.url, { label: 'item 46: alg none', token: unsignedToken(iss, ctx.aud(t.url), keys[0]!.kid), body: t.body });
      expectRefused(f, `${t.method} ${t.url} with an unsigned JWT (alg none)`, x);
    }
    return f.outcome();
  }),
  targetCheck(47, async (ctx) => {
    await requireAuth(ctx);
    const f = new Findings();
    const { iss, keys } = ctx.opts.signer;
    for (const t of await targets(ctx)) {
      const random = await hmacToken(iss, ctx.aud(t.url), keys[0]!.kid);
      expectRefused(f, `${t.method} ${t.url} with an HS256 JWT`, await ctx.call(t.method, t.url, { label: 'item 47: HS256', token: random, body: t.body }));
      // Algorithm confusion: the HMAC secret is the issuer's public key.
      const confused = await hmacToken(iss, ctx.aud(t.url), keys[0]!.kid, new TextEncoder().encode(JSON.stringify(keys[0]!.publicJwk)));
      expectRefused(f, `${t.method} ${t.url} with an HS256 JWT keyed with the public key`, await ctx.call(t.method, t.url, { label: 'item 47: HS256 (public key)', token: confused, body: t.body }));
    }
    return f.outcome();
  }),
  targetCheck(48, async (ctx) => {
    await requireTrust(ctx);
    const f = new Findings();
    const keys = ctx.opts.signer.keys;
    for (const key of keys) {
      for (const t of await targets(ctx)) {
        const x = await ctx.call(t.method, t.url, { label: `item 48: ${key.alg}`, token: await ctx.token(t.url, { key }), body: t.body });
        f.expect(x.status === 200, `${t.method} ${t.url} with a valid ${key.alg} JWT (kid ${key.kid}) → ${saw(x)}`);
      }
    }
    const algs = new Set(keys.map((k) => k.alg));
    f.note(`checked: ${[...algs].join(', ')}`);
    for (const wanted of ['ES384', 'RS384']) if (!algs.has(wanted)) f.note(`${wanted} not checked: the suite has no ${wanted} key the target trusts (--key takes a JWKS with one key per algorithm)`);
    return f.outcome();
  }),
  targetCheck(49, async (ctx) => {
    await requireTrust(ctx);
    const f = new Findings();
    const svc = await firstService(ctx);
    const d = ctx.discoveryUrl;
    if (svc) {
      const x = await ctx.call('POST', svc.url, { label: 'item 49: aud of discovery on a call', token: await ctx.token(svc.url, { claims: { aud: ctx.aud(d) } }), body: await body(ctx, svc) });
      expectRefused(f, `POST ${svc.url} with aud "${ctx.aud(d)}"`, x);
      const other = await ctx.call('GET', d, { label: 'item 49: aud of a service on discovery', token: await ctx.token(d, { claims: { aud: ctx.aud(svc.url) } }) });
      expectRefused(f, `GET ${d} with aud "${ctx.aud(svc.url)}"`, other);
      const arr = await ctx.call('POST', svc.url, { label: 'item 49: aud as an array', token: await ctx.token(svc.url, { claims: { aud: [ctx.aud(svc.url)] } }), body: await body(ctx, svc) });
      f.expect(arr.status === 200, `POST ${svc.url} with aud ["${ctx.aud(svc.url)}"] → ${saw(arr)} (expected 200)`);
    }
    const elsewhere = await ctx.call('GET', d, { label: 'item 49: aud elsewhere', token: await ctx.token(d, { claims: { aud: 'https://elsewhere.invalid/cds-services' } }) });
    expectRefused(f, `GET ${d} with aud "https://elsewhere.invalid/cds-services"`, elsewhere);
    const arr = await ctx.call('GET', d, { label: 'item 49: aud as an array', token: await ctx.token(d, { claims: { aud: [ctx.aud(d)] } }) });
    f.expect(arr.status === 200, `GET ${d} with aud ["${ctx.aud(d)}"] → ${saw(arr)} (expected 200)`);
    return f.outcome();
  }),
  targetCheck(50, async (ctx) => {
    await requireTrust(ctx);
    const f = new Findings();
    const d = ctx.discoveryUrl;
    const variants: [string, Parameters<SuiteContext['token']>[1]][] = [
      ['expired (exp 100 s ago)', { iat: -400, exp: -100 }],
      ['no iat', { claims: { iat: undefined } }],
      ['no jti', { claims: { jti: undefined } }],
      ['no kid header', { header: { kid: undefined } }],
      ['no typ header', { header: { typ: undefined } }],
    ];
    for (const [what, opts] of variants) expectRefused(f, `GET ${d} with a JWT with ${what}`, await ctx.call('GET', d, { label: `item 50: ${what}`, token: await ctx.token(d, opts) }));
    return f.outcome();
  }),
  targetCheck(51, async (ctx) => {
    await requireAuth(ctx);
    const f = new Findings();
    const d = ctx.discoveryUrl;
    const local = isLoopbackHost(new URL(d).hostname);
    const host = local ? '127.0.0.1' : nonLoopbackAddress();
    if (!host) return skip('the target is not on this machine and this machine has no other address to serve a JWKS from');
    const stranger = await strangerSigner(`https://conformance-stranger-${randomUUID().slice(0, 8)}.invalid`);
    const jwksDoc = JSON.stringify({ keys: [stranger.keys[0]!.publicJwk, ...ctx.opts.signer.keys.map((k) => k.publicJwk)] });
    const jwks = await startRecordingServer(host, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwksDoc));
    try {
      const jku = `${jwks.url}/jwks.json`;
      const x = await ctx.call('GET', d, { label: 'item 51: untrusted iss', token: await stranger.sign(ctx.aud(d), { header: { jku } }) });
      expectRefused(f, `GET ${d} with a JWT from an untrusted issuer (${stranger.iss}, jku ${jku})`, x);
      if (await ctx.trusted()) {
        const y = await ctx.call('GET', d, { label: 'item 51: foreign jku', token: await ctx.token(d, { header: { jku } }) });
        if (y.status !== 401 && y.status !== 403) f.note(`a JWT of the trusted issuer naming the foreign jku ${jku} → HTTP ${y.status} (its keys were not taken from there)`);
      } else {
        f.note(`the foreign-jku case of the trusted issuer was not checked: the target does not accept the suite's tokens (item 1)`);
      }
      await sleep(ctx.opts.settleMs);
      f.expect(jwks.requests.length === 0, () => `the target fetched the non-allowlisted jku: ${jwks.requests.map((r) => `${r.method} ${jwks.url}${r.url}`).join(', ')}`);
      if (!local) f.note(`the JWKS was served at ${jwks.url}; a target that cannot reach this machine passes trivially`);
    } finally {
      await jwks.close();
    }
    return f.outcome();
  }),
  targetCheck(52, async (ctx) => {
    await requireTrust(ctx);
    const d = ctx.discoveryUrl;
    const token = await ctx.token(d);
    const first = await ctx.call('GET', d, { label: 'item 52: first use', token });
    if (first.status !== 200) return fail(`the first use of a fresh JWT → ${saw(first)} (expected 200)`);
    const f = new Findings();
    expectRefused(f, `GET ${d} with the same JWT (same jti) again`, await ctx.call('GET', d, { label: 'item 52: replay', token }));
    return f.outcome();
  }),
  targetCheck(53, async (ctx) => {
    await requireAuth(ctx);
    const d = ctx.discoveryUrl;
    // A few refusals of its own, so the item is decided even when run alone; then every 401 of the run.
    await ctx.call('GET', d, { label: 'item 53: no token', token: null });
    await ctx.call('GET', d, { label: 'item 53: alg none', token: unsignedToken(ctx.opts.signer.iss, ctx.aud(d), ctx.opts.signer.keys[0]!.kid) });
    if (await ctx.trusted()) {
      await ctx.call('GET', d, { label: 'item 53: expired', token: await ctx.token(d, { iat: -400, exp: -100 }) });
      await ctx.call('GET', d, { label: 'item 53: wrong aud', token: await ctx.token(d, { claims: { aud: 'https://elsewhere.invalid/cds-services' } }) });
    }
    const refusals = ctx.http.exchanges.filter((x) => x.status === 401);
    if (refusals.length < 2) return skip('fewer than two 401 answers to compare');
    const f = new Findings();
    for (const x of refusals) {
      const m = REVEALING.exec(x.text);
      f.expect(!m, () => `${x.label}: the 401 body says "${m![0]}": ${saw(x)}`);
    }
    // Any difference between refusals for different reasons tells the caller why (request ids and times aside).
    const normal = (t: string) => t.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>').replace(/\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})?/g, '<time>');
    const bodies = new Map<string, string>();
    for (const x of refusals) if (!bodies.has(normal(x.text))) bodies.set(normal(x.text), x.label);
    f.expect(bodies.size === 1, () => `the 401 bodies differ by reason: ${[...bodies.entries()].slice(0, 3).map(([b, label]) => `${label}: ${JSON.stringify(b.slice(0, 80))}`).join('; ')}`);
    f.note(`${refusals.length} refusals compared`);
    return f.outcome();
  }),
  targetCheck(54, async (ctx) => {
    await requireAuth(ctx);
    const d = ctx.discoveryUrl;
    if (await ctx.trusted()) return pass('every good token of the run had neither sub nor tenant');
    const withBoth = await ctx.call('GET', d, { label: 'item 54: with sub and tenant', token: await ctx.token(d, { claims: { sub: 'conformance', tenant: 'conformance' } }) });
    if (withBoth.status === 200) return fail('a JWT without sub and tenant was refused, the same JWT with them accepted');
    return skip(`the target does not accept the suite's tokens at all (item 1: HTTP ${(await ctx.discovery()).exchange.status})`);
  }),
  targetCheck(55, async (ctx) => {
    const [svc] = await ctx.services();
    if (!svc) throw new Unavailable('no service to call (item 5)');
    const { required } = await ctx.authRequired();
    if (required && !(await ctx.trusted())) throw new Unavailable("the target does not accept the suite's tokens (item 1), so no call reaches the fhirServer logic");
    if (Object.keys(svc.prefetch).length === 0) return skip('the service declares no prefetch, so it has no reason to contact fhirServer');
    const lan = nonLoopbackAddress();
    if (!lan && ctx.opts.signer.iss === DEV_ISSUER) {
      return skip('this machine has no non-loopback address for the decoy FHIR server, and the development issuer may use loopback FHIR servers on any port, so the guard cannot be observed');
    }
    const decoy = await startRecordingServer(lan ?? '127.0.0.1');
    try {
      const accessToken = `conformance-ssrf-${randomUUID()}`;
      const fhirServer = `${decoy.url}/fhir`;
      const b = {
        ...ctx.request(svc, ctx.context('conformance-ssrf-patient')),
        fhirServer,
        fhirAuthorization: { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds-conformance' },
      };
      const x = await ctx.call('POST', svc.url, { label: 'item 55: decoy fhirServer', body: b });
      await sleep(ctx.opts.settleMs);
      const f = new Findings();
      f.expect(decoy.requests.length === 0, () => {
        const withToken = decoy.requests.filter((r) => r.authorization?.includes(accessToken)).length;
        return `the target contacted fhirServer ${fhirServer}, a server no issuer configuration names: ${decoy.requests.length} request(s), ${withToken} with the access token (e.g. ${decoy.requests[0]!.method} ${decoy.requests[0]!.url.split('?')[0]})`;
      });
      f.note(`the call with the decoy fhirServer ${fhirServer} → HTTP ${x.status}`);
      return f.outcome();
    } finally {
      await decoy.close();
    }
  }),
  targetCheck(56, async (ctx) => {
    const url = new URL(ctx.discoveryUrl);
    if (url.protocol !== 'https:') return skip(`the target URL is http (${url.origin}): TLS is checked on an https URL (production serves HTTPS only, e.g. behind its TLS proxy)`);
    const f = new Findings();
    const modern = await handshake(url, {}, ctx.opts.timeoutMs);
    if (!modern.ok) return fail(`a TLS handshake with ${url.host} failed: ${modern.code ?? ''} ${modern.message ?? ''}`.trim());
    f.expect(modern.protocol === 'TLSv1.2' || modern.protocol === 'TLSv1.3', `the default handshake negotiated ${modern.protocol}`);
    const old = await handshake(url, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, ctx.opts.timeoutMs);
    if (old.ok) f.fail(`the target accepted a ${old.protocol} handshake`);
    else if (/NO_PROTOCOLS_AVAILABLE|no protocols available|NO_CIPHERS/i.test(`${old.code} ${old.message}`)) {
      if (!f.failed) return skip(`negotiates ${modern.protocol}, but this Node/OpenSSL cannot offer TLS 1.1, so refusing it could not be tested (${old.code})`);
    } else f.note(`negotiates ${modern.protocol}; a TLS 1.0/1.1 handshake was refused (${old.code ?? old.message})`);
    return f.outcome();
  }),
];

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host) || host === '[::1]' || host === '::1';
}
