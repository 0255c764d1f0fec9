/**
 * The benchmark harness runs (`npm run bench -- --quick`, here from the TypeScript sources): every scenario is
 * in its JSON with sane numbers. Nothing here is about speed — the numbers come from a few requests each on
 * whatever machine runs the tests; `npm run bench` is where speed is measured.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchReport } from '../../bench/run';

const ROOT = path.resolve(__dirname, '../..');
const TS_REGISTER = path.join(ROOT, 'test', 'security', 'support', 'ts-register.js');

const SCENARIOS = [
  'hook-10',
  'floor-10',
  'hook-100',
  'floor-100',
  'hook-1000',
  'floor-1000',
  'hook-1000-c1',
  'floor-1000-c1',
  'fallback-100',
  'fallback-100-c1',
  'fallback-1000-c1',
  'hook-10000',
  'floor-10000',
];

let tmp: string;
let report: BenchReport;
let stdout = '';
let stderr = '';

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-bench-smoke-'));
  const out = path.join(tmp, 'quick.json');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', TS_REGISTER, path.join(ROOT, 'bench', 'run.ts'), '--quick', '--out', out], { cwd: ROOT, env: { ...process.env, BENCH_QUICK: '1' } });
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`bench --quick exited ${code}:\n${stderr.slice(-3000)}`);
  report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
}, 300_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it('measures every scenario, each answered 200 every time, with finite latencies, throughput, memory and CPU', () => {
  expect(report.quick).toBe(true);
  expect(report.median.scenarios.map((s) => s.id)).toEqual(SCENARIOS);
  for (const s of report.median.scenarios) {
    const where = `${s.id}: ${JSON.stringify(s)}`;
    expect({ where, ok: s.requests > 0 && s.non2xx === 0 && s.errors === 0 && s.timeouts === 0 }).toEqual({ where, ok: true });
    expect(s.rps).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50);
    expect(s.latencyMs.max).toBeGreaterThanOrEqual(s.latencyMs.p99);
    expect(Number.isFinite(s.latencyMs.mean)).toBe(true);
    expect(s.bodyBytes).toBeGreaterThan(s.kind === 'fallback' ? 100 : 1000);
    if (process.platform === 'linux') {
      expect(s.peakRssMb).toBeGreaterThan(20);
      expect(s.cpuMsPerRequest).toBeGreaterThanOrEqual(0);
    }
    // The hook answers with the fixtures' findings; the floor with its one fixed card.
    expect(s.cards).toBeGreaterThanOrEqual(1);
    if (s.kind !== 'floor') {
      expect(s.stages?.calls).toBeGreaterThan(0);
      expect(s.stages?.median.evaluate).toBeGreaterThan(0);
      expect(s.stages?.median.request).toBeGreaterThan(0);
    }
    if (s.kind === 'fallback') expect(s.stages?.median.fetch).toBeGreaterThan(0);
  }
});

it('reports cold start, card history on vs off, the soak, machine facts and the Done-when checks', () => {
  const m = report.median;
  expect(m.coldStartMs).toBeGreaterThan(0);
  expect(m.listeningMs).toBeGreaterThan(0);
  expect(m.listeningMs).toBeLessThanOrEqual(m.coldStartMs);
  for (const side of [m.history.on, m.history.off]) {
    expect(side.rps).toBeGreaterThan(0);
    expect(side.p50).toBeGreaterThan(0);
  }
  expect(m.history.ratio.p50).toBeGreaterThan(0);
  expect(report.runs[0]!.soak.samples.length).toBeGreaterThanOrEqual(2);
  expect(m.soak.peakRssMb).toBeGreaterThan(0);
  expect(report.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
  expect(report.runs[0]!.loadAverageAtStart).toHaveLength(3);
  expect(report.checks.length).toBeGreaterThanOrEqual(8);
  for (const c of report.checks) expect(typeof c.ok).toBe('boolean');
  // The tables print.
  expect(stdout).toContain('| hook-100 |');
  expect(stdout).toContain('Done-when checks:');
});
