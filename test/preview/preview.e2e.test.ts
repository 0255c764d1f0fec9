/**
 * The card preview page end to end in headless Chromium: the real service on a free port, Debian's
 * `/usr/bin/chromium` driven by playwright-core (never a downloaded browser), a fresh temporary profile.
 * Fires fixture patients and checks the cards against the fixtures' expected findings and the chart against
 * their IL-6 results; saves a screenshot to test-artifacts/preview.png.
 *
 * Without /usr/bin/chromium (install it with `bash .ci/setup-system`) the suite is skipped, with a warning.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, Observation } from 'fhir/r4';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config';
import type { RunningServer } from '../../src/server';
import { startTestService } from '../support/service';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts');
const FIXTURES = path.join(PROJECT_ROOT, 'fhir-fixtures');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`preview e2e test skipped: ${CHROMIUM} is missing. Install Debian's chromium package (bash .ci/setup-system) to run it.`);
const describeInChromium = haveChromium ? describe : describe.skip;

function expected(slug: string): { findings: string[]; cards: Record<string, { indicator?: string }> } {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${slug}.expected.json`), 'utf8'));
}

/** The fixture's serum/plasma IL-6 results (LOINC 26881-3), read from the Bundle itself. */
function il6Results(slug: string): Observation[] {
  const bundle = JSON.parse(readFileSync(path.join(FIXTURES, `${slug}.json`), 'utf8')) as Bundle;
  return (bundle.entry ?? [])
    .map((e) => e.resource as Observation | undefined)
    .filter((r): r is Observation => r?.resourceType === 'Observation' && !!r.code.coding?.some((c) => c.system === 'http://loinc.org' && c.code === '26881-3'));
}

describeInChromium('preview page in headless Chromium', () => {
  jest.setTimeout(60_000);
  let service: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    service = await startTestService({ config: { preview: 'on' } });
    userDataDir = mkdtempSync(path.join(tmpdir(), 'il6-cds-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await context?.close();
    await service?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  async function fire(slug: string): Promise<void> {
    await page.selectOption('#fixture', slug);
    await page.click('#fire');
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]');
    expect(await page.getAttribute('body', 'data-state')).toBe('done');
  }

  it('loads the page with its services and fixtures', async () => {
    await page.goto(`${service.url}/`);
    await page.waitForSelector('body[data-state="ready"]');
    expect(await page.title()).toBe('CDS card preview');
    expect(await page.$$eval('#service option', (o) => o.map((x) => x.getAttribute('value')))).toContain('il6-inflammation');
    expect(await page.$$eval('#fixture option', (o) => o.length)).toBeGreaterThan(100);
    expect(await page.textContent('#status')).toMatch(/fixture patients/);
  });

  it('fires a fixture: the cards are the expected findings, the chart has one point per IL-6 result', async () => {
    const slug = 'combo-persistent-rising-trend';
    await fire(slug);
    const want = expected(slug);
    const cards = await page.$$eval('#cards .card', (els) => els.map((e) => ({ topic: e.getAttribute('data-topic'), indicator: e.getAttribute('data-indicator') })));
    expect(cards.map((c) => c.topic).sort()).toEqual([...want.findings].sort());
    for (const c of cards) if (want.cards[c.topic!]?.indicator) expect(c.indicator).toBe(want.cards[c.topic!]!.indicator);
    expect(await page.textContent('#expectation')).toContain('as expected');

    const results = il6Results(slug);
    expect(results.length).toBe(3);
    expect(await page.$$eval('#chart .pt-series', (els) => els.length)).toBe(results.length);
    const refs = await page.$$eval('#chart .pt-series', (els) => els.map((e) => e.getAttribute('data-ref')).sort());
    expect(refs).toEqual(results.map((r) => `Observation/${r.id}`).sort());
    // The bands are shaded, the secondary series has its own points.
    expect(await page.$$eval('#chart rect.band', (els) => els.map((e) => e.getAttribute('data-band')))).toEqual(['optimal', 'mild', 'elevated', 'significant']);
    expect(await page.$$eval('#chart .pt-series.style-normal .halo', (els) => els.length)).toBe(3); // all cited by a card

    // Markdown detail is rendered (bold, tables, lists), never as raw markup.
    expect(await page.$$eval('#cards .card-detail strong', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.$$eval('#cards .card-detail table', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.$$eval('#cards .card-detail', (els) => els.some((e) => /\*\*|\|---/.test(e.textContent ?? '')))).toBe(false);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'preview.png'), fullPage: true });
  });

  it('shows a suggestion’s draft resource and dismisses a card with an override reason', async () => {
    const card = page.locator('#cards .card[data-topic="il6-persistent"]');
    const button = card.locator('.btn-suggestion').first();
    await button.click();
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    const json = JSON.parse((await card.locator('.suggestion-panel pre.json code').first().textContent()) ?? '{}');
    expect(json).toMatchObject({ resourceType: 'ServiceRequest', status: 'draft', subject: { reference: 'Patient/il6cds-combo-persistent-rising-trend' } });

    await card.locator('.btn-dismiss').click();
    const reasons = await card.locator('.dismiss-menu .menu-item').allTextContents();
    expect(reasons).toEqual(['Already addressed', 'Patient declined', 'Not clinically relevant']);
    await card.locator('.dismiss-menu .menu-item', { hasText: 'Patient declined' }).click();
    expect(await card.getAttribute('class')).toContain('dismissed');
    expect(await card.locator('.card-dismissed').textContent()).toContain('Patient declined');
    await card.locator('.card-dismissed .btn-link').click();
    expect(await card.getAttribute('class')).not.toContain('dismissed');
  });

  it('is usable from the keyboard: chart points take focus, the dismiss menu opens and moves with arrows', async () => {
    await page.focus('#chart .pt-series >> nth=1');
    await page.locator('#tooltip').waitFor({ state: 'visible' });
    expect(await page.locator('#tooltip').textContent()).toMatch(/IL-6 4\.6 pg\/mL/);
    await page.keyboard.press('Escape');
    expect(await page.locator('#tooltip').isHidden()).toBe(true);

    const card = page.locator('#cards .card[data-topic="il6-trend"]');
    await card.locator('.btn-dismiss').focus();
    await page.keyboard.press('Enter');
    // A function, not a string: a string would be eval'ed in the page, which its CSP forbids.
    await page.waitForFunction(() => (globalThis as unknown as { document: { activeElement: { className: string } | null } }).document.activeElement?.className === 'menu-item');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Already addressed');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Patient declined');
    await page.keyboard.press('Escape');
    expect(await card.locator('details.dismiss').getAttribute('open')).toBeNull();
  });

  it('shows a tooltip for a point on hover', async () => {
    await page.hover('#chart .pt-series >> nth=0');
    const tip = page.locator('#tooltip');
    await tip.waitFor({ state: 'visible' });
    expect(await tip.textContent()).toMatch(/pg\/mL/);
  });

  it('draws the secondary series on its own axis', async () => {
    const slug = 'combo-persistent-metabolic-crp-high';
    await fire(slug);
    expect(await page.$$eval('#cards .card', (els) => els.map((e) => e.getAttribute('data-topic')).sort())).toEqual([...expected(slug).findings].sort());
    expect(await page.$$eval('#chart .pt-series', (els) => els.length)).toBe(il6Results(slug).length);
    expect(await page.$$eval('#chart .pt-secondary', (els) => els.length)).toBe(1);
    await page.hover('#chart .pt-secondary');
    expect(await page.locator('#tooltip').textContent()).toMatch(/hs-CRP 4\.2 mg\/L/);
  });

  it('marks confounded results (from the URL hash, which fires on load)', async () => {
    const slug = 'trend-confounded-point-excluded';
    await page.goto('about:blank');
    await page.goto(`${service.url}/#fixture=${slug}`);
    await page.waitForSelector('body[data-state="done"]');
    expect(await page.$$eval('#cards .card', (els) => els.length)).toBe(expected(slug).findings.length);
    expect(await page.$$eval('#chart .pt-series', (els) => els.length)).toBe(il6Results(slug).length);
    const flagged = await page.$$eval('#chart .pt-series.flag-confounded', (els) => els.map((e) => e.getAttribute('data-ref')));
    expect(flagged).toEqual([`Observation/il6cds-${slug}-il6b`]);
    // A distinct mark: the confounded point is a triangle (path), the others circles.
    expect(await page.$eval('#chart .pt-series.flag-confounded', (e) => e.querySelector('path:not(.comparator)') !== null)).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'preview-confounded.png'), fullPage: true });
  });

  it('marks interfered results and excluded results', async () => {
    await fire('interference-latest-only-earlier-eligible');
    const interfered = await page.$$eval('#chart .pt-series.flag-interfered', (els) => els.length);
    expect(interfered).toBeGreaterThan(0);
    expect(await page.$$eval('#cards .card', (els) => els.map((e) => e.getAttribute('data-topic')).sort())).toEqual([...expected('interference-latest-only-earlier-eligible').findings].sort());

    await fire('status-preliminary-ignored');
    expect(await page.$$eval('#chart .pt-series', (els) => els.length)).toBe(il6Results('status-preliminary-ignored').length);
    const excluded = await page.$$eval('#chart .pt-series.excluded', (els) => els.map((e) => e.getAttribute('data-ref')));
    expect(excluded).toHaveLength(1);
    await page.hover(`#chart .pt-series.excluded`);
    expect(await page.locator('#tooltip').textContent()).toMatch(/Not used — status preliminary/);
  });

  it('renders hostile Markdown as inert text in the browser', async () => {
    const hostile =
      '<script>window.__pwned = 1</script>\n\n<img src=x onerror="window.__pwned = 2">\n\n[x](javascript:window.__pwned=3) ![i](x)\n\n| a |\n|---|\n| <b onclick="x()">b</b> |\n\n&lt;script&gt;';
    // A string, so that ts-jest does not rewrite the dynamic import for CommonJS.
    const result: { elements: string[]; attributes: string[]; text: string; pwned: number | null } = await page.evaluate(`(async (source) => {
      const md = await import('/preview/static/markdown.js');
      const host = document.createElement('div');
      host.append(md.renderMarkdown(source));
      document.body.append(host);
      await new Promise((r) => setTimeout(r, 50));
      const out = {
        elements: [...host.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),
        attributes: [...host.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)),
        text: host.textContent,
        pwned: window.__pwned ?? null,
      };
      host.remove();
      return out;
    })(${JSON.stringify(hostile)})`);
    expect(result.pwned).toBeNull();
    expect(result.elements.every((t) => ['p', 'table', 'thead', 'tbody', 'tr', 'th', 'td'].includes(t))).toBe(true);
    expect(result.attributes).toEqual([]);
    expect(result.text).toContain('<script>window.__pwned = 1</script>');
    expect(result.text).toContain('[x](javascript:window.__pwned=3)');
  });

  it('reported no errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
