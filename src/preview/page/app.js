// The preview page: choose a service, a profile and a patient (a fixture, or a FHIR server and patient id),
// fire the hook through the preview API, then draw the chart and the cards. The choice is kept in the URL
// hash (#service=…&profile=…&fixture=…), so a link reopens — and refires — the same view.

import { renderCards } from './cards.js';
import { bandColours, bandRange, drawChart, formatDateTime, formatNumber, legendSwatch, pointStyle } from './chart.js';

const $ = (id) => document.getElementById(id);
const form = $('fire-form');
const ui = {
  service: $('service'),
  profile: $('profile'),
  fixture: $('fixture'),
  fixtureTitle: $('fixture-title'),
  fhirServer: $('fhir-server'),
  patientId: $('patient-id'),
  fire: $('fire'),
  status: $('status'),
  result: $('result'),
  chart: $('chart'),
  chartTitle: $('chart-title'),
  chartSub: $('chart-sub'),
  legend: $('chart-legend'),
  notes: $('chart-notes'),
  table: $('chart-table'),
  cards: $('cards'),
  expectation: $('expectation'),
  tooltip: $('tooltip'),
};

let services = [];
let fixtures = [];
let lastChart = null;
let lastHash = '';

function setState(state) {
  document.body.dataset.state = state;
}

function setStatus(text, tone = '') {
  ui.status.textContent = text;
  ui.status.className = `status${tone ? ` status-${tone}` : ''}`;
}

function option(value, label, selected = false) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  o.selected = selected;
  return o;
}

function source() {
  return form.elements.namedItem('source').value;
}

function showSource() {
  const s = source();
  for (const el of form.querySelectorAll('[data-source]')) el.hidden = el.dataset.source !== s;
}

function currentService() {
  return services.find((s) => s.id === ui.service.value) ?? services[0];
}

function fillProfiles(preferred) {
  const svc = currentService();
  ui.profile.replaceChildren();
  if (!svc) return;
  const pick = preferred && svc.profiles.includes(preferred) ? preferred : svc.profile;
  for (const p of svc.profiles) ui.profile.append(option(p, p === svc.profile ? `${p} (configured)` : p, p === pick));
}

function fillFixtures() {
  ui.fixture.replaceChildren();
  // Group by the first word of the slug (tier-…, confounder-…): the fixture README's sections.
  const groups = new Map();
  for (const f of fixtures) {
    const group = f.slug.split('-')[0];
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(f);
  }
  for (const [name, list] of groups) {
    const og = document.createElement('optgroup');
    og.label = name;
    for (const f of list) og.append(option(f.slug, f.slug));
    ui.fixture.append(og);
  }
  if (fixtures.length === 0) ui.fixture.append(option('', 'no fixtures found'));
}

function currentFixture() {
  return fixtures.find((f) => f.slug === ui.fixture.value);
}

function showFixtureTitle() {
  const f = currentFixture();
  ui.fixtureTitle.textContent = f ? `${f.title} · expected: ${f.findings.length ? f.findings.join(', ') : 'no cards'}${f.profile !== 'default' ? ` · profile ${f.profile}` : ''}` : '';
}

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  return Object.fromEntries(p.entries());
}

function writeHash(req) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(req)) if (v) p.set(k, v);
  lastHash = `#${p.toString()}`;
  history.replaceState(null, '', lastHash);
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${res.status} ${res.statusText}: the answer is not JSON`);
  }
  if (!res.ok) {
    const issues = json && json.resourceType === 'OperationOutcome' ? json.issue.map((i) => i.diagnostics ?? i.code).join(' ') : text.slice(0, 300);
    throw new Error(`${res.status}: ${issues}`);
  }
  return json;
}

async function init() {
  setState('loading');
  try {
    [services, fixtures] = await Promise.all([api('/preview/api/services'), api('/preview/api/fixtures')]);
  } catch (err) {
    setStatus(`Could not load the preview: ${err.message}`, 'error');
    setState('error');
    return;
  }
  const hash = readHash();
  for (const s of services) {
    const o = option(s.id, s.title, s.id === hash.service);
    o.title = s.id;
    ui.service.append(o);
  }
  fillFixtures();
  if (hash.fixture && fixtures.some((f) => f.slug === hash.fixture)) ui.fixture.value = hash.fixture;
  if (hash.fhirServer) {
    form.elements.namedItem('source').value = 'fhir';
    ui.fhirServer.value = hash.fhirServer;
    ui.patientId.value = hash.patientId ?? '';
  }
  fillProfiles(hash.profile ?? (source() === 'fixture' ? currentFixture()?.profile : undefined));
  showSource();
  showFixtureTitle();
  if (services.length === 0) {
    setStatus('This deployment has no CDS services.', 'error');
    ui.fire.disabled = true;
  } else {
    setStatus(`${fixtures.length} fixture patients, ${services.length} ${services.length === 1 ? 'service' : 'services'}. Choose a patient and fire the hook.`);
  }
  setState('ready');
  if (hash.fixture || hash.fhirServer) fire();
}

/** A link edited by hand or pasted (#fixture=…): apply it and fire. */
function applyHash() {
  const hash = readHash();
  if (hash.service && services.some((s) => s.id === hash.service)) ui.service.value = hash.service;
  if (hash.fixture && fixtures.some((f) => f.slug === hash.fixture)) {
    form.elements.namedItem('source').value = 'fixture';
    ui.fixture.value = hash.fixture;
  } else if (hash.fhirServer) {
    form.elements.namedItem('source').value = 'fhir';
    ui.fhirServer.value = hash.fhirServer;
    ui.patientId.value = hash.patientId ?? '';
  } else {
    return;
  }
  fillProfiles(hash.profile ?? (source() === 'fixture' ? currentFixture()?.profile : undefined));
  showSource();
  showFixtureTitle();
  fire();
}

ui.service.addEventListener('change', () => fillProfiles());
ui.fixture.addEventListener('change', () => {
  showFixtureTitle();
  fillProfiles(currentFixture()?.profile);
});
for (const radio of form.querySelectorAll('input[name="source"]')) radio.addEventListener('change', showSource);
form.addEventListener('submit', (e) => {
  e.preventDefault();
  fire();
});

async function fire() {
  const req = { service: ui.service.value, profile: ui.profile.value };
  if (source() === 'fixture') {
    if (!ui.fixture.value) return setStatus('Choose a fixture patient.', 'error');
    req.fixture = ui.fixture.value;
  } else {
    req.fhirServer = ui.fhirServer.value.trim();
    req.patientId = ui.patientId.value.trim();
    if (!/^https?:\/\/\S+$/.test(req.fhirServer)) {
      ui.fhirServer.setAttribute('aria-invalid', 'true');
      ui.fhirServer.focus();
      return setStatus('Enter the FHIR base URL (http:// or https://).', 'error');
    }
    ui.fhirServer.removeAttribute('aria-invalid');
    if (!req.patientId) {
      ui.patientId.setAttribute('aria-invalid', 'true');
      ui.patientId.focus();
      return setStatus('Enter the patient id.', 'error');
    }
    ui.patientId.removeAttribute('aria-invalid');
  }
  writeHash(req);
  setState('firing');
  ui.fire.disabled = true;
  setStatus('Firing…');
  try {
    const r = await api('/preview/api/fire', req);
    show(r);
    setState('done');
  } catch (err) {
    setStatus(`The hook call failed — ${err.message}`, 'error');
    setState('error');
  } finally {
    ui.fire.disabled = false;
  }
}

function show(r) {
  const ms = Object.values(r.timings).reduce((a, b) => a + b, 0);
  const fetched = r.keys.filter((k) => k.source === 'fetched').length;
  setStatus(
    `${r.service.id} · profile ${r.profile} · patient ${r.patientId}: ${r.cards.length} ${r.cards.length === 1 ? 'card' : 'cards'} from ${r.resources} resources (${r.keys.length} prefetch keys${fetched ? `, ${fetched} fetched from the FHIR server` : ''}) in ${formatNumber(ms)} ms.${r.ruleErrors.length ? ` ${r.ruleErrors.length} rule expression errors (see the service log).` : ''}`,
    'ok',
  );
  ui.result.hidden = false;
  showExpectation(r);
  renderCards(ui.cards, r.cards);
  lastChart = r.chart;
  showChart();
}

function showExpectation(r) {
  ui.expectation.replaceChildren();
  if (!r.fixture) return;
  const got = new Set(r.cards.map((c) => c.source?.topic?.code));
  const want = new Set(r.fixture.findings);
  const missing = [...want].filter((c) => !got.has(c));
  const extra = [...got].filter((c) => !want.has(c));
  const same = missing.length === 0 && extra.length === 0;
  const chip = document.createElement('span');
  chip.className = `expect-chip ${same ? 'expect-ok' : 'expect-diff'}`;
  chip.textContent = same ? '✓ as expected' : '✗ differs from the fixture';
  const text = document.createElement('span');
  const wanted = r.fixture.findings.length ? r.fixture.findings.join(', ') : 'no cards';
  text.textContent = same
    ? ` Fixture expects ${wanted}${r.fixture.profile !== r.profile ? ` (under profile ${r.fixture.profile})` : ''}.`
    : ` Expected ${wanted}${r.fixture.profile !== r.profile ? ` under profile ${r.fixture.profile}` : ''}.${missing.length ? ` Missing: ${missing.join(', ')}.` : ''}${extra.length ? ` Unexpected: ${extra.join(', ')}.` : ''}`;
  ui.expectation.append(chip, text);
}

function showChart() {
  const chart = lastChart;
  const panel = ui.chart.closest('section');
  if (!chart) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  ui.chartTitle.textContent = chart.title;
  const dated = chart.series.filter((p) => p.t !== null);
  ui.chartSub.textContent = `${dated.length} ${chart.axes.series.label} ${dated.length === 1 ? 'result' : 'results'}${chart.axes.secondary ? `, ${chart.secondary.filter((p) => p.t !== null).length} ${chart.axes.secondary.label}` : ''} · bands of profile ${chart.profile}`;
  drawChart(ui.chart, chart, ui.tooltip);
  showLegend(chart);
  const undated = [...chart.series, ...chart.secondary].filter((p) => p.t === null);
  ui.notes.textContent = undated.length
    ? `Not plotted (no usable time): ${undated.map((p) => `${p.label ?? ''} ${p.reported ?? ''} ${p.ref}${p.flags.length ? ` — ${p.flags.join('; ')}` : ''}`.trim()).join(' · ')}`
    : '';
  showTable(chart);
}

function showLegend(chart) {
  ui.legend.replaceChildren();
  const item = (swatch, text, cls = '') => {
    const li = document.createElement('li');
    if (cls) li.className = cls;
    const label = document.createElement('span');
    label.textContent = text;
    li.append(swatch, label);
    ui.legend.append(li);
  };
  const colours = bandColours(chart.bands.length);
  chart.bands.forEach((b, i) => item(legendSwatch('band', colours[i]), `${b.name} ${bandRange(chart.bands, i)} ${chart.axes.series.unit}`, 'legend-band'));
  const fakePoint = (flags) => ({ flags, value: 1 });
  item(legendSwatch('mark', { style: pointStyle(chart, fakePoint([])) }), `${chart.axes.series.label} result`);
  chart.marks.forEach((m) => item(legendSwatch('mark', { style: pointStyle(chart, fakePoint([m.flag])) }), m.flag.charAt(0).toUpperCase() + m.flag.slice(1)));
  item(legendSwatch('mark', { style: pointStyle(chart, fakePoint(['excluded: x'])) }), 'Not used (hover for why)');
  item(legendSwatch('mark', { style: { kind: 'cross', role: 'excluded-novalue' } }), 'No usable value');
  item(legendSwatch('halo'), 'Cited by a card');
  if (chart.axes.secondary) item(legendSwatch('mark', { style: { kind: 'square', role: 'normal' }, secondary: true }), `${chart.axes.secondary.label} (right axis)`);
}

function showTable(chart) {
  const table = document.createElement('table');
  table.className = 'data';
  const head = table.createTHead().insertRow();
  for (const h of ['Result', 'Time', 'Value', 'As reported', 'Tier', 'Flags', 'Cited by']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  const rows = [
    ...chart.series.map((p) => ({ p, axis: chart.axes.series })),
    ...chart.secondary.map((p) => ({ p, axis: chart.axes.secondary })),
  ].sort((a, b) => (a.p.t ?? Infinity) - (b.p.t ?? Infinity));
  for (const { p, axis } of rows) {
    const tr = body.insertRow();
    const cells = [
      p.label ?? axis.label,
      p.t === null ? '—' : formatDateTime(p.t),
      p.value === null ? '—' : `${p.comparator ?? ''}${formatNumber(p.value)} ${axis.unit}`,
      p.reported ?? '—',
      p.tier ?? '—',
      [...p.why, ...p.flags.filter((f) => f.startsWith('excluded'))].join('; ') || '—',
      p.usedBy.join(', ') || '—',
    ];
    for (const c of cells) tr.insertCell().textContent = c;
  }
  ui.table.replaceChildren(table);
}

// Redraw the chart when its width changes (window resize, sidebar toggles).
let lastWidth = 0;
new ResizeObserver(() => {
  const w = ui.chart.clientWidth;
  if (lastChart && Math.abs(w - lastWidth) > 8) {
    lastWidth = w;
    drawChart(ui.chart, lastChart, ui.tooltip);
  }
}).observe(ui.chart);
window.addEventListener('hashchange', () => {
  if (location.hash !== lastHash && document.body.dataset.state !== 'loading') applyHash();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') ui.tooltip.hidden = true;
});

init();
