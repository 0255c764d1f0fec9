/**
 * HAPI FHIR pages search results with links on the base itself (`<base>?_getpages=<id>&_getpagesoffset=20…`),
 * not below it. Both the service's FHIR fallback and `il6-cds fire`'s prefetch must follow them, and still
 * refuse links to any other server. A small HTTP server answers the way HAPI does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle } from 'fhir/r4';
import { prefetchFrom } from '../../src/cli/commands/fire';
import { fetchQuery } from '../../src/prefetch/fhir-client';

let server: http.Server;
let base: string;
let foreign: string | undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const page = Number(url.searchParams.get('_getpagesoffset') ?? 0);
    const obs = (i: number) => ({ resource: { resourceType: 'Observation', id: `o${i}`, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } } });
    let body: unknown;
    if (url.pathname === '/baseR4/Patient/p1') body = { resourceType: 'Patient', id: 'p1' };
    else if (url.pathname === '/baseR4/Observation' || (url.pathname === '/baseR4' && url.searchParams.has('_getpages'))) {
      const next = page < 4 ? (foreign ?? `${base}?_getpages=8f2c&_getpagesoffset=${page + 2}&_count=2&_pretty=true&_bundletype=searchset`) : undefined;
      body = { resourceType: 'Bundle', type: 'searchset', link: next ? [{ relation: 'next', url: next }] : [], entry: [obs(page), obs(page + 1)] };
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/baseR4`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

const limits = () => ({ signal: AbortSignal.timeout(5000), maxPages: 10, maxResources: 100 });

it('the FHIR fallback follows HAPI-style next links on the base itself', async () => {
  foreign = undefined;
  const found = await fetchQuery({ baseUrl: base }, 'Observation?patient=p1&_count=2', limits());
  expect(found.map((r) => r.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
});

it('still refuses next links to another server or a sibling path', async () => {
  for (const link of ['http://127.0.0.2:1/baseR4?_getpages=x', `${base}x?_getpages=x`, `${base.replace('/baseR4', '')}?_getpages=x`]) {
    foreign = link;
    await expect(fetchQuery({ baseUrl: base }, 'Observation?patient=p1', limits())).rejects.toThrow(/a next link points to another server/);
  }
  foreign = undefined;
});

it('fire builds one complete searchset Bundle per key from every page', async () => {
  foreign = undefined;
  const prefetch = await prefetchFrom(base, undefined, { patient: 'Patient/{{context.patientId}}', obs: 'Observation?patient={{context.patientId}}' }, { userId: 'Practitioner/x', patientId: 'p1' });
  expect(prefetch.patient).toMatchObject({ resourceType: 'Patient', id: 'p1' });
  const obs = prefetch.obs as Bundle;
  expect(obs.link).toBeUndefined();
  expect(obs.total).toBe(6);
  expect(obs.entry!.map((e) => [e.resource!.id, e.search!.mode, e.fullUrl])).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5'].map((id) => [id, 'match', `${base}/Observation/${id}`]));
});
