/** CDS Hooks 2.0 conformance, discovery and CORS: checklist items 1–12 of docs/cds-hooks.md. */
import type { DiscoveryResponse } from '../../src/cds-hooks/types';
import { templateTokens, tokenProblem } from '../../src/prefetch/template';
import type { RunningServer } from '../../src/server';
import { emptyValues, hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';

let service: RunningServer;
let res: Response;
let body: DiscoveryResponse;

beforeAll(async () => {
  service = await startTestService();
  res = await fetch(`${service.url}/cds-services`);
  body = (await res.json()) as DiscoveryResponse;
});
afterAll(() => service.close());

describe('discovery (checklist 1–10)', () => {
  it('item 1: GET /cds-services answers 200 with a JSON object', () => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(typeof body).toBe('object');
  });

  it('item 2: the body has services as an array', () => {
    expect(Array.isArray(body.services)).toBe(true);
    expect(body.services.length).toBeGreaterThan(0);
  });

  it('item 3: every service has non-empty string hook, id and description', () => {
    for (const s of body.services) {
      for (const field of [s.hook, s.id, s.description]) {
        expect(typeof field).toBe('string');
        expect(field.length).toBeGreaterThan(0);
      }
    }
  });

  it('item 4: every service has a string title', () => {
    for (const s of body.services) expect(typeof s.title).toBe('string');
  });

  it('item 5: the IL-6 entry has hook patient-view', () => {
    expect(body.services.find((s) => s.id === 'il6-inflammation')?.hook).toBe('patient-view');
  });

  it('item 6: no null, "", [] or {} anywhere; prefetch is omitted rather than empty', () => {
    expect(emptyValues(body)).toEqual([]);
    expect(emptyValues({ a: { b: [] }, c: '', d: null, e: {} })).toEqual(['$.a.b', '$.c', '$.d', '$.e']);
  });

  it('item 7: prefetch, if present, maps keys to strings', () => {
    for (const s of body.services) {
      for (const [key, template] of Object.entries(s.prefetch ?? {})) {
        expect(key).toMatch(/^[A-Za-z][A-Za-z0-9_-]*$/);
        expect(typeof template).toBe('string');
      }
    }
  });

  it('item 8: templates use only the context.userId|patientId|encounterId and the four user tokens', () => {
    for (const s of body.services) {
      for (const template of Object.values(s.prefetch ?? {})) {
        for (const token of templateTokens(template)) expect(tokenProblem(token)).toBeUndefined();
      }
    }
    expect(tokenProblem('context.draftOrders')).toMatch(/not a patient-view prefetch token/);
    expect(tokenProblem('today() - 90 days')).toMatch(/not a CDS Hooks 2.0 prefetch token/);
  });

  it('item 9: templates stay within the recommended query subset (_sort=-date, _count, _include, token and reference params)', () => {
    for (const s of body.services) {
      for (const template of Object.values(s.prefetch ?? {})) {
        expect(template).not.toMatch(/^\/|^https?:/); // relative
        const [path, query] = template.split('?');
        expect(path).toMatch(/^[A-Z][A-Za-z]+(\/\{\{[^}]+\}\})?$/);
        for (const [name, value] of new URLSearchParams(query ?? '')) {
          expect(name).not.toMatch(/:(?!in$)/); // no modifiers beyond :in
          if (name === '_sort') expect(value).toMatch(/^-?[a-z][a-z-]*$/);
          if (name === '_count') expect(value).toMatch(/^\d+$/);
          if (name === 'date') expect(value).toMatch(/^(eq|lt|gt|ge|le)/);
          if (name === '_include') expect(value).toMatch(/^[A-Z][A-Za-z]+:[a-z][a-z-]*$/);
        }
      }
    }
  });

  it('item 10: every discovered id accepts POST /cds-services/{id}', async () => {
    for (const s of body.services) {
      const prefetch = Object.fromEntries(Object.keys(s.prefetch ?? {}).map((k) => [k, null]));
      const reply = await postHook(service.url, s.id, { ...hookRequest('p1'), hook: s.hook, prefetch });
      expect(reply.status).toBe(200);
    }
  });
});

describe('CORS (checklist 11–12)', () => {
  it.each(['/cds-services', '/cds-services/il6-inflammation', '/cds-services/il6-inflammation/feedback'])(
    'item 11: OPTIONS preflight on %s succeeds without a JWT and allows Authorization and Content-Type',
    async (path) => {
      const r = await fetch(`${service.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://sandbox.cds-hooks.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(r.status).toBeLessThan(300);
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      const allowed = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      expect(allowed).toContain('authorization');
      expect(allowed).toContain('content-type');
      expect(r.headers.get('access-control-allow-methods')).toContain('POST');
    },
  );

  it('item 12: responses carry Access-Control-Allow-Origin, errors included', async () => {
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const reply = await postHook(service.url, 'il6-inflammation', hookRequest('p1', { prefetch: {} }));
    expect(reply.headers.get('access-control-allow-origin')).toBe('*');
    const missing = await fetch(`${service.url}/cds-services/nope`, { method: 'POST', body: '{}' });
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
  });
});
