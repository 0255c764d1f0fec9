import type * as fhir4 from 'fhir/r4';
import { startTestFhirServer, type TestFhirServer } from './index';
import { schemaIndexings } from './schema';

const IL6 = { system: 'http://loinc.org', code: '26881-3', display: 'Interleukin 6 [Mass/volume] in Serum or Plasma' };
const CRP = { system: 'http://loinc.org', code: '1988-5', display: 'C reactive protein [Mass/volume] in Serum or Plasma' };

function observation(patient: string, coding: fhir4.Coding, date: string, value: number): fhir4.Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [coding] },
    subject: { reference: patient },
    effectiveDateTime: date,
    valueQuantity: { value, unit: 'pg/mL', system: 'http://unitsofmeasure.org', code: 'pg/mL' },
  };
}

/** Patient p1 with 7 IL-6 results (2024-01-01 .. 2024-01-07) and one CRP; a second patient created by POST. */
function fixture(): fhir4.Bundle {
  const p1: fhir4.Patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Muster', given: ['Erika'] }] };
  const other: fhir4.Patient = { resourceType: 'Patient', name: [{ family: 'Other' }] };
  const entries: fhir4.BundleEntry[] = [
    {
      resource: p1,
      request: { method: 'PUT', url: 'Patient/p1' },
    },
    {
      fullUrl: 'urn:uuid:5b3c1a44-6f0e-4a7c-9d1e-2f3a4b5c6d7e',
      resource: other,
      request: { method: 'POST', url: 'Patient' },
    },
    {
      fullUrl: 'urn:uuid:0e0f8c3b-1d2e-4f5a-8b6c-7d8e9f0a1b2c',
      resource: observation('urn:uuid:5b3c1a44-6f0e-4a7c-9d1e-2f3a4b5c6d7e', IL6, '2024-01-03T08:00:00Z', 99),
      request: { method: 'POST', url: 'Observation' },
    },
    { resource: { ...observation('Patient/p1', CRP, '2024-01-05T08:00:00Z', 12), id: 'crp1' }, request: { method: 'PUT', url: 'Observation/crp1' } },
  ];
  for (let day = 1; day <= 7; day++) {
    const id = `il6-${day}`;
    entries.push({
      resource: { ...observation('Patient/p1', IL6, `2024-01-0${day}T08:00:00Z`, day * 10), id },
      request: { method: 'PUT', url: `Observation/${id}` },
    });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

async function getJson<T = fhir4.Resource>(url: string, init?: RequestInit): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

function ids(bundle: fhir4.Bundle): string[] {
  return (bundle.entry ?? []).map((e) => e.resource?.id ?? '');
}

describe('test FHIR server', () => {
  let server: TestFhirServer;
  let loaded: fhir4.Bundle;

  beforeAll(async () => {
    server = await startTestFhirServer();
    loaded = await server.load(fixture());
  });
  afterAll(() => server.stop());
  afterEach(() => server.setFault(undefined));

  describe('start and stop', () => {
    it('listens on 127.0.0.1 on a free port and serves a CapabilityStatement', async () => {
      expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
      expect(server.baseUrl).not.toMatch(/:0\//);
      const { status, body, headers } = await getJson<fhir4.CapabilityStatement>(`${server.baseUrl}/metadata`);
      expect(status).toBe(200);
      expect(headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      expect(body.resourceType).toBe('CapabilityStatement');
      expect(body.fhirVersion).toBe('4.0.1');
      const obs = body.rest?.[0]?.resource?.find((r) => r.type === 'Observation');
      const params = obs?.searchParam?.map((p) => p.name) ?? [];
      expect(params).toEqual(expect.arrayContaining(['patient', 'code', 'date', '_id']));
      expect(params).not.toContain('value-quantity'); // not supported, so not advertised
    });

    // Indexing the R4 schema takes about a second; a second server in the same process reuses it.
    it('starts another server without indexing the schema again, and stops it', async () => {
      expect(schemaIndexings()).toBe(1);
      const other = await startTestFhirServer();
      expect(schemaIndexings()).toBe(1);
      expect(other.baseUrl).not.toBe(server.baseUrl);
      expect((await fetch(`${other.baseUrl}/metadata`)).status).toBe(200);
      await other.stop();
      await expect(fetch(`${other.baseUrl}/metadata`)).rejects.toThrow();
      await other.stop(); // idempotent
    });
  });

  describe('transaction load', () => {
    it('answers a transaction-response with PUT ids kept and POST ids assigned', () => {
      expect(loaded.type).toBe('transaction-response');
      expect(loaded.entry).toHaveLength(11);
      expect(loaded.entry?.[0]?.response?.location).toBe('Patient/p1');
      expect(loaded.entry?.[0]?.response?.status).toBe('201'); // created by update
      expect(loaded.entry?.[1]?.response?.status).toBe('201');
      expect(loaded.entry?.[1]?.resource?.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('resolves urn:uuid references to the ids it assigned', async () => {
      const patientId = loaded.entry?.[1]?.resource?.id;
      const obsId = loaded.entry?.[2]?.resource?.id;
      const { body } = await getJson<fhir4.Observation>(`${server.baseUrl}/Observation/${obsId}`);
      expect(body.subject?.reference).toBe(`Patient/${patientId}`);
    });

    it('rolls back a failed transaction completely', async () => {
      const male: fhir4.Patient = { resourceType: 'Patient', id: 'p1', gender: 'male' };
      const bad: fhir4.Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', id: 'ghost' }, request: { method: 'PUT', url: 'Patient/ghost' } },
          { resource: male, request: { method: 'PUT', url: 'Patient/p1' } },
          // fails after the two updates above have been applied
          { resource: { resourceType: 'Patient', id: 'y' }, request: { method: 'PUT', url: 'Patient/x' } },
        ],
      };
      await expect(server.load(bad)).rejects.toThrow(/Incorrect resource ID/);
      const res = await fetch(`${server.baseUrl}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify(bad),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as fhir4.Resource).resourceType).toBe('OperationOutcome');
      expect((await fetch(`${server.baseUrl}/Patient/ghost`)).status).toBe(404);
      const p1 = (await (await fetch(`${server.baseUrl}/Patient/p1`)).json()) as fhir4.Patient;
      expect(p1.gender).toBeUndefined();
    });
  });

  describe('REST interactions', () => {
    it('reads a resource with FHIR content type and ETag', async () => {
      const { status, body, headers } = await getJson<fhir4.Patient>(`${server.baseUrl}/Patient/p1`);
      expect(status).toBe(200);
      expect(body.name?.[0]?.family).toBe('Muster');
      expect(headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      expect(headers.get('etag')).toBe(`W/"${body.meta?.versionId}"`);
    });

    it('answers 404 with an OperationOutcome for unknown ids, types and paths', async () => {
      for (const url of [`${server.baseUrl}/Patient/nope`, `${server.baseUrl}/Patientt/p1`, server.baseUrl.replace('/fhir', '/other')]) {
        const { status, body } = await getJson<fhir4.OperationOutcome>(url);
        expect([url, status]).toEqual([url, 404]);
        expect(body.resourceType).toBe('OperationOutcome');
      }
    });

    it('creates, updates (also as create, with the client id), and deletes', async () => {
      const json = { 'Content-Type': 'application/fhir+json' };
      const created = await fetch(`${server.baseUrl}/Patient`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ resourceType: 'Patient', id: 'ignored', meta: { versionId: 'client' } }),
      });
      expect(created.status).toBe(201);
      const patient = (await created.json()) as fhir4.Patient;
      expect(patient.id).not.toBe('ignored');
      expect(patient.meta?.versionId).not.toBe('client');
      expect(created.headers.get('location')).toBe(`${server.baseUrl}/Patient/${patient.id}/_history/${patient.meta?.versionId}`);

      const put = (body: object): Promise<Response> =>
        fetch(`${server.baseUrl}/Patient/stable-id`, { method: 'PUT', headers: json, body: JSON.stringify(body) });
      expect((await put({ resourceType: 'Patient', id: 'stable-id' })).status).toBe(201);
      const updated = await put({ resourceType: 'Patient', id: 'stable-id', gender: 'female' });
      expect(updated.status).toBe(200);
      expect(((await updated.json()) as fhir4.Patient).gender).toBe('female');
      expect((await put({ resourceType: 'Patient', id: 'other-id' })).status).toBe(400);

      expect((await fetch(`${server.baseUrl}/Patient/stable-id`, { method: 'DELETE' })).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/Patient/stable-id`)).status).toBe(404);
    });

    it('rejects bad bodies: invalid JSON 400, wrong content type 415, over 20 MB 413', async () => {
      const post = (body: string | Buffer, type = 'application/fhir+json'): Promise<Response> =>
        fetch(`${server.baseUrl}/Patient`, { method: 'POST', headers: { 'Content-Type': type }, body });
      const invalid = await post('{nope');
      expect(invalid.status).toBe(400);
      expect(((await invalid.json()) as fhir4.Resource).resourceType).toBe('OperationOutcome');
      expect((await post('<Patient/>', 'application/fhir+xml')).status).toBe(415);
      const tooLarge = await post(Buffer.alloc(21 * 1024 * 1024, 0x20));
      expect(tooLarge.status).toBe(413);
      expect(((await tooLarge.json()) as fhir4.Resource).resourceType).toBe('OperationOutcome');
    });
  });

  describe('search', () => {
    const il6 = 'code=http%3A%2F%2Floinc.org%7C26881-3';

    it('filters by patient reference, token and date, sorts by -date and limits by _count', async () => {
      const url = `${server.baseUrl}/Observation?patient=Patient/p1&${il6}&date=ge2024-01-03&_sort=-date&_count=3`;
      const { status, body } = await getJson<fhir4.Bundle>(url);
      expect(status).toBe(200);
      expect(body.type).toBe('searchset');
      expect(body.total).toBe(5);
      expect(ids(body)).toEqual(['il6-7', 'il6-6', 'il6-5']);
      expect(body.entry?.[0]?.fullUrl).toBe(`${server.baseUrl}/Observation/il6-7`);
      expect(body.entry?.[0]?.search?.mode).toBe('match');
    });

    it('sorts ascending by date', async () => {
      const { body } = await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation?patient=Patient/p1&${il6}&_sort=date`);
      expect(ids(body)).toEqual(['il6-1', 'il6-2', 'il6-3', 'il6-4', 'il6-5', 'il6-6', 'il6-7']);
    });

    it('matches a reference given as a bare id, as FHIR allows', async () => {
      const { body } = await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation?patient=p1&_count=0`);
      expect(body.total).toBe(8);
      const bySubject = await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation?subject=p1&code=1988-5`);
      expect(ids(bySubject.body)).toEqual(['crp1']);
    });

    it('searches by POST with a form body', async () => {
      const { status, body } = await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation/_search`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ patient: 'Patient/p1', code: 'http://loinc.org|1988-5' }).toString(),
      });
      expect(status).toBe(200);
      expect(ids(body)).toEqual(['crp1']);
    });

    it('finds resources by their current references after updates, deletes and a rolled-back transaction', async () => {
      const json = { 'Content-Type': 'application/fhir+json' };
      const put = (subject: string): Promise<Response> =>
        fetch(`${server.baseUrl}/Observation/moving`, {
          method: 'PUT',
          headers: json,
          body: JSON.stringify({ ...observation(subject, CRP, '2024-02-01', 1), id: 'moving' }),
        });
      const found = async (patient: string): Promise<string[]> =>
        ids((await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation?patient=${patient}&_id=moving`)).body);
      await put('Patient/p1');
      expect(await found('Patient/p1')).toEqual(['moving']);
      await put('Patient/px');
      expect([await found('Patient/p1'), await found('px')]).toEqual([[], ['moving']]);
      const moveBack: fhir4.Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { ...observation('Patient/p1', CRP, '2024-02-01', 1), id: 'moving' }, request: { method: 'PUT', url: 'Observation/moving' } },
          { resource: { ...observation('Patient/p1', CRP, '2024-02-01', 1), id: 'y' }, request: { method: 'PUT', url: 'Observation/x' } },
        ],
      };
      await expect(server.load(moveBack)).rejects.toThrow();
      expect([await found('Patient/p1'), await found('px')]).toEqual([[], ['moving']]);
      await fetch(`${server.baseUrl}/Observation/moving`, { method: 'DELETE' });
      expect(await found('Patient/px')).toEqual([]);
    });

    it('pages with absolute next links; following them yields every match exactly once', async () => {
      let url: string | undefined = `${server.baseUrl}/Observation?patient=Patient/p1&${il6}&_sort=-date&_count=3`;
      const seen: string[] = [];
      let pages = 0;
      while (url) {
        expect(url.startsWith(server.baseUrl + '/Observation?')).toBe(true);
        const { status, body }: { status: number; body: fhir4.Bundle } = await getJson<fhir4.Bundle>(url);
        expect(status).toBe(200);
        expect(body.total).toBe(7);
        seen.push(...ids(body));
        url = body.link?.find((l) => l.relation === 'next')?.url;
        pages++;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(['il6-7', 'il6-6', 'il6-5', 'il6-4', 'il6-3', 'il6-2', 'il6-1']);
    });

    it('has no next link when everything fits on the page', async () => {
      const { body } = await getJson<fhir4.Bundle>(`${server.baseUrl}/Observation?patient=Patient/p1&${il6}&_count=7`);
      expect(body.link?.map((l) => l.relation)).toEqual(['self']);
    });

    it('ignores _include and quantity search like a server lacking them, and says so in the self link', async () => {
      const url = `${server.baseUrl}/Observation?patient=Patient/p1&${il6}&value-quantity=gt50&_include=Observation:patient`;
      const { status, body } = await getJson<fhir4.Bundle>(url);
      expect(status).toBe(200);
      expect(body.total).toBe(7); // value-quantity not applied
      expect(body.entry?.every((e) => e.resource?.resourceType === 'Observation')).toBe(true); // no _include
      const self = body.link?.find((l) => l.relation === 'self')?.url ?? '';
      expect(self).toContain('patient=');
      expect(self).not.toContain('value-quantity');
      expect(self).not.toContain('_include');
    });

    it('rejects unsupported parameters with Prefer: handling=strict', async () => {
      const { status, body } = await getJson<fhir4.OperationOutcome>(`${server.baseUrl}/Observation?value-quantity=gt50`, {
        headers: { Prefer: 'handling=strict' },
      });
      expect(status).toBe(400);
      expect(body.issue[0]?.details?.text).toContain('value-quantity');
    });

    it('answers 400 for malformed dates and _count', async () => {
      expect((await fetch(`${server.baseUrl}/Observation?date=ge2024-13-45x`)).status).toBe(400);
      expect((await fetch(`${server.baseUrl}/Observation?_count=-1`)).status).toBe(400);
    });
  });

  describe('faults and request recording', () => {
    it('records method, url and Authorization of every request', async () => {
      const before = server.requests.length;
      await fetch(`${server.baseUrl}/Patient/p1`, { headers: { Authorization: 'Bearer abc' } });
      await fetch(`${server.baseUrl}/Observation?patient=Patient/p1`);
      expect(server.requests.slice(before)).toEqual([
        { method: 'GET', url: '/fhir/Patient/p1', authorization: 'Bearer abc' },
        { method: 'GET', url: '/fhir/Observation?patient=Patient/p1' },
      ]);
    });

    it.each([500, 401, 503])('answers every request with an injected HTTP %i until cleared', async (status) => {
      server.setFault({ status });
      for (const url of [`${server.baseUrl}/Patient/p1`, `${server.baseUrl}/metadata`]) {
        const res = await getJson<fhir4.OperationOutcome>(url);
        expect(res.status).toBe(status);
        expect(res.body.resourceType).toBe('OperationOutcome');
      }
      server.setFault(undefined);
      expect((await fetch(`${server.baseUrl}/Patient/p1`)).status).toBe(200);
    });

    it('closes the socket without answering on a destroy fault', async () => {
      server.setFault({ destroy: true });
      await expect(fetch(`${server.baseUrl}/Patient/p1`)).rejects.toThrow();
      server.setFault(undefined);
      expect((await fetch(`${server.baseUrl}/Patient/p1`)).status).toBe(200);
    });

    it('stalls requests: a client with a 300 ms AbortSignal gives up', async () => {
      server.setFault({ stallMs: 5000 });
      const start = performance.now();
      await expect(fetch(`${server.baseUrl}/Patient/p1`, { signal: AbortSignal.timeout(300) })).rejects.toThrow(
        expect.objectContaining({ name: 'TimeoutError' }),
      );
      expect(performance.now() - start).toBeLessThan(1000);
    });

    it('answers a stalled request late, once the stall is over', async () => {
      server.setFault({ stallMs: 150 });
      const start = performance.now();
      expect((await fetch(`${server.baseUrl}/Patient/p1`)).status).toBe(200);
      expect(performance.now() - start).toBeGreaterThanOrEqual(140);
    });
  });
});

describe('test FHIR server lifecycle and auth', () => {
  it('stop() returns promptly with a stalled request in flight', async () => {
    const server = await startTestFhirServer();
    server.setFault({ stallMs: 60_000 });
    const pending = fetch(`${server.baseUrl}/metadata`).then(
      () => 'answered',
      () => 'failed',
    );
    while (server.requests.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const start = performance.now();
    await server.stop();
    // Far below the 60 s stall: stop() cut the connection instead of waiting (a bound, not a speed target).
    expect(performance.now() - start).toBeLessThan(5_000);
    expect(await pending).toBe('failed');
  });

  it('requireToken: 401 with an OperationOutcome without the bearer token, 200 with it', async () => {
    const server = await startTestFhirServer({ requireToken: 's3cret' });
    try {
      await server.load(fixture());
      for (const authorization of [undefined, 'Bearer wrong', 'Basic czNjcmV0']) {
        const res = await getJson<fhir4.OperationOutcome>(`${server.baseUrl}/Patient/p1`, {
          headers: authorization ? { Authorization: authorization } : {},
        });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(res.body.resourceType).toBe('OperationOutcome');
      }
      expect((await fetch(`${server.baseUrl}/Patient/p1`, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/metadata`)).status).toBe(200); // public, as SMART requires
      expect(server.requests.map((r) => r.authorization)).toEqual([undefined, 'Bearer wrong', 'Basic czNjcmV0', 'Bearer s3cret', undefined]);
      await server.reset();
      expect(server.requests).toEqual([]);
      expect((await fetch(`${server.baseUrl}/Patient/p1`, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
