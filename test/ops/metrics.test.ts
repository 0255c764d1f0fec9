/**
 * GET /metrics after real hook calls: per-stage histograms (fetch split from prefetch), requests by service and
 * status, FHIR fetch errors by reason class, cards by finding, card-history drops; one registry per service (two
 * services in one process keep their own counts); no patient id or token in any label; no JWT needed.
 */
import type { CdsResponse } from '../../src/cds-hooks/types';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { rebase } from '../../src/fixtures/rebase';
import type { RunningServer } from '../../src/server';
import { startTestFhirServer, type TestFhirServer } from '../../src/test-fhir-server';
import { hookRequest, postHook } from '../support/cds-client';
import { startTestService } from '../support/service';
import { metricValue } from './support';

const SERVICE = 'il6-inflammation';
const fixture = listFixtures().find((f) => f.slug === 'persistent-20-days-apart')!;
const patient = fixture.expected.patient;
let fhir: TestFhirServer;
let service: RunningServer;
let other: RunningServer;

beforeAll(async () => {
  fhir = await startTestFhirServer();
  await fhir.load(rebase(fixture.bundle));
  service = await startTestService({ config: { fhirTimeoutMs: 400 } });
  other = await startTestService();
});

afterAll(async () => {
  await Promise.all([service?.close(), other?.close()]);
  await fhir?.stop();
});

async function scrape(s: RunningServer): Promise<string> {
  const res = await fetch(`${s.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

it('counts hook calls by service and status, times every stage, and classifies FHIR fetch errors', async () => {
  const prefetch = buildPrefetch(service.registry.get(SERVICE)!.definition.prefetch!, fixtureResources(fixture), patient);
  const issued: CdsResponse[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await postHook(service.url, SERVICE, hookRequest(patient, { prefetch }));
    expect(r.status).toBe(200);
    issued.push(r.body as CdsResponse);
  }
  const viaFhir = await postHook(service.url, SERVICE, hookRequest(patient, { fhirServer: fhir.baseUrl }));
  expect(viaFhir.status).toBe(200);
  issued.push(viaFhir.body as CdsResponse);

  fhir.setFault({ status: 503 });
  expect((await postHook(service.url, SERVICE, hookRequest(patient, { fhirServer: fhir.baseUrl }))).status).toBe(412);
  fhir.setFault({ stallMs: 2000 });
  expect((await postHook(service.url, SERVICE, hookRequest(patient, { fhirServer: fhir.baseUrl }))).status).toBe(412);
  fhir.setFault(undefined);
  expect((await postHook(service.url, SERVICE, { hook: 'patient-view' })).status).toBe(400);
  expect((await postHook(service.url, 'no-such-service', hookRequest(patient))).status).toBe(404);

  const text = await scrape(service);
  const v = (name: string, labels: Record<string, string> = {}) => metricValue(text, name, labels);
  expect(v('il6cds_hook_requests_total', { service: SERVICE, status: '200' })).toBe(4);
  expect(v('il6cds_hook_requests_total', { service: SERVICE, status: '412' })).toBe(2);
  expect(v('il6cds_hook_requests_total', { service: SERVICE, status: '400' })).toBe(1);
  expect(v('il6cds_hook_requests_total', { service: 'unknown', status: '404' })).toBe(1); // ids from the path never become labels
  expect(v('il6cds_hook_duration_seconds_count', { service: SERVICE })).toBe(7);
  expect(v('il6cds_http_requests_total', { route: 'service', method: 'POST', status: '200' })).toBe(4);

  // Stage histograms of the successful calls; fetch only for the one that used the FHIR fallback.
  for (const stage of ['validate', 'prefetch', 'evaluate', 'render']) {
    expect(v('il6cds_hook_stage_duration_seconds_count', { service: SERVICE, stage })).toBe(4);
    expect(v('il6cds_hook_stage_duration_seconds_bucket', { service: SERVICE, stage, le: '+Inf' })).toBe(4);
    expect(v('il6cds_hook_stage_duration_seconds_sum', { service: SERVICE, stage })).toBeGreaterThan(0);
  }
  expect(v('il6cds_hook_stage_duration_seconds_count', { service: SERVICE, stage: 'fetch' })).toBe(1);

  // Every key of the failed calls counts once: 7 prefetch templates each.
  const keys = Object.keys(service.registry.get(SERVICE)!.definition.prefetch!).length;
  expect(v('il6cds_fhir_fetch_errors_total', { reason: 'http_5xx' })).toBe(keys);
  expect(v('il6cds_fhir_fetch_errors_total', { reason: 'timeout' })).toBe(keys);

  const byFinding = new Map<string, number>();
  for (const r of issued) for (const c of r.cards) byFinding.set(`${c.source.topic!.code}|${c.indicator}`, (byFinding.get(`${c.source.topic!.code}|${c.indicator}`) ?? 0) + 1);
  expect(byFinding.size).toBeGreaterThan(0);
  for (const [key, n] of byFinding) {
    const [finding, indicator] = key.split('|') as [string, string];
    expect(v('il6cds_cards_issued_total', { service: SERVICE, finding, indicator })).toBe(n);
  }
  expect(v('il6cds_rule_set_info', { service: SERVICE, version: service.registry.get(SERVICE)!.ruleSet.version, profile: 'default' })).toBe(1);
  expect(v('process_cpu_user_seconds_total')).toBeGreaterThan(0);

  // Nothing identifying: no patient id, no hookInstance, no FHIR server address.
  expect(text).not.toContain(patient);
  expect(text).not.toContain(fhir.baseUrl);
  expect(text).not.toContain(fixture.slug);

  // The other service in this process has its own registry.
  const otherText = await scrape(other);
  expect(metricValue(otherText, 'il6cds_hook_requests_total', { service: SERVICE, status: '200' })).toBeUndefined();
}, 30_000);

it('counts card-history drops when the queue is full', async () => {
  const s = await startTestService({ config: { cardHistoryQueueMax: 1 } });
  try {
    const prefetch = buildPrefetch(s.registry.get(SERVICE)!.definition.prefetch!, fixtureResources(fixture), patient);
    const r = await postHook(s.url, SERVICE, hookRequest(patient, { prefetch }));
    const cards = (r.body as CdsResponse).cards.length;
    expect(cards).toBeGreaterThan(1);
    const text = await scrape(s);
    expect(metricValue(text, 'il6cds_card_history_dropped_total')).toBe(cards - 1);
    expect(metricValue(text, 'il6cds_card_history_enqueued_total')).toBe(1);
    expect(metricValue(text, 'il6cds_card_history_queued')).toBeGreaterThanOrEqual(0);
  } finally {
    await s.close();
  }
});

it('/metrics, /healthz and /readyz need no JWT when /cds-services does; METRICS=off serves no /metrics', async () => {
  const secured = await startTestService({ config: { auth: 'required' } });
  const off = await startTestService({ config: { metrics: 'off' } });
  try {
    expect((await fetch(`${secured.url}/cds-services`)).status).toBe(401);
    for (const p of ['/metrics', '/healthz', '/readyz']) expect((await fetch(`${secured.url}${p}`)).status).toBe(200);
    expect(metricValue(await scrape(secured), 'il6cds_http_requests_total', { route: 'discovery', method: 'GET', status: '401' })).toBe(1);
    expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
    expect(off.metrics).toBeUndefined();
  } finally {
    await Promise.all([secured.close(), off.close()]);
  }
});
