/**
 * `npm run bench`: the service measured against the physical floor, in one run.
 *
 * The service runs as a child process (`node dist/src/main.js`); the load comes from this process
 * (autocannon, loopback). Scenarios, each with requests/s, exact p50/p99, peak RSS and the service's CPU time
 * per request, plus the stage timings the service logs:
 *   - hook-N        POST /cds-services/il6-inflammation with a full prefetch of N resources (a scaled patient
 *                   built from the fixtures, bench/patient.ts), N = 10, 100, 1,000 (and 10,000 for scaling,
 *                   with 2 connections);
 *   - floor-N       POST /cds-services/_floor (BENCH_FLOOR=on) with the same body: same app, same middleware,
 *                   one fixed card — the cost of HTTP and JSON alone;
 *   - hook-1000-c1, floor-1000-c1: one connection (the latency of a single call);
 *   - fallback-N    no prefetch: the service fetches the patient from the test FHIR server, a child process;
 *   - history       CARD_HISTORY on vs off (two service processes, alternating rounds, same scenario);
 *   - cold start    process start to the first 200 of a hook call (every service process of the run);
 *   - soak          2 minutes of hook-100 on a fresh process, RSS and heap sampled every 5 s.
 *
 * Options: --quick (or BENCH_QUICK=1; the smoke mode: every scenario, a second or less each), --runs N
 * (whole runs, medians reported; default 3, 1 with --quick), --out FILE (default bench/results/latest.json;
 * with --quick a file in the system temp folder), --no-wait (do not wait for a quiet machine), --max-load L
 * (1-minute load average counted as quiet, default 1.5), --wait-minutes M (longest wait for quiet, default 45),
 * --soak-seconds S (default 120).
 *
 * Authentication: AUTH=disabled (the service refuses it in production only). JWT verification would add the
 * same cost (one ES384 verification, ~0.3 ms) to the hook and the floor alike.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { buildPrefetch } from '../src/fixtures/catalog';
import { runLoad, type LoadResult, type LoadSpec } from './load';
import { logSize, readLog, summarizeStages, type StageSummary } from './logs';
import { scaledPatient, transactionBundles } from './patient';
import { freePort, JSON_HEADERS, procStats, request, ROOT, RssSampler, spawnService, startFhirServer, waitForStatus, type ServiceChild } from './processes';
import { median, round, slope } from './stats';
import { printReport } from './report';

const SERVICE_ID = 'il6-inflammation';
const HOOK_PATH = `/cds-services/${SERVICE_ID}`;
const FLOOR_PATH = '/cds-services/_floor';

export interface Options {
  quick: boolean;
  runs: number;
  out: string;
  waitQuiet: boolean;
  maxLoad: number;
  waitMinutes: number;
  soakSeconds: number;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  for (const a of argv) {
    if (a.startsWith('--') && !['--quick', '--runs', '--out', '--no-wait', '--max-load', '--wait-minutes', '--soak-seconds'].includes(a)) throw new Error(`unknown option ${a}`);
  }
  const num = (name: string, dflt: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a number, not ${v}`);
    return n;
  };
  return {
    quick,
    runs: Math.max(1, Math.round(num('--runs', quick ? 1 : 3))),
    out: path.resolve(value('--out') ?? (quick ? path.join(os.tmpdir(), 'il6-cds-bench-quick.json') : path.join(ROOT, 'bench', 'results', 'latest.json'))),
    waitQuiet: !quick && !argv.includes('--no-wait'),
    maxLoad: num('--max-load', 1.5),
    waitMinutes: num('--wait-minutes', 45),
    soakSeconds: num('--soak-seconds', quick ? 2 : 120),
  };
}

// ---- scenarios ---------------------------------------------------------------------------------------------

type Kind = 'hook' | 'floor' | 'fallback';

interface Scenario {
  id: string;
  kind: Kind;
  resources: number;
  connections: number;
  path: string;
  body: Buffer;
  durationS: number;
  warmupS: number;
  amount?: number;
  warmupAmount?: number;
}

export interface ScenarioResult extends LoadResult {
  id: string;
  kind: Kind;
  resources: number;
  bodyBytes: number;
  /** Cards in the answer (checked once before the load). */
  cards: number;
  /** Service process: peak RSS while measured (sampled every 100 ms), CPU time per request. */
  peakRssMb?: number;
  cpuMsPerRequest?: number;
  /** The FHIR server's (fallback only). */
  fhirServerPeakRssMb?: number;
  fhirServerCpuMsPerRequest?: number;
  stages?: StageSummary;
}

export interface HistoryComparison {
  rounds: number;
  connections: number;
  resources: number;
  on: { rps: number; p50: number; p99: number; mean: number };
  off: { rps: number; p50: number; p99: number; mean: number };
  /** on / off. */
  ratio: { rps: number; p50: number; p99: number; mean: number };
  historyWritten?: number;
}

export interface Soak {
  seconds: number;
  connections: number;
  resources: number;
  rps: number;
  p50: number;
  p99: number;
  samples: { t: number; rssMb: number; heapUsedMb?: number }[];
  peakRssMb: number;
  /** Median RSS of the first and the last 30 s after the first 30 s, and the least-squares slopes after 30 s. */
  rssFirstMb: number;
  rssLastMb: number;
  rssSlopeMbPerMin?: number;
  heapSlopeMbPerMin?: number;
  /** The heap right after collections (the lowest sample) in the first and the last window: what stays alive. */
  heapFloorFirstMb?: number;
  heapFloorLastMb?: number;
  /**
   * Last window minus first, within this run. The medians across runs are taken of these, not computed from the
   * median first and last values (which can come from different runs: a growth no run had).
   */
  rssGrowthMb: number;
  heapFloorGrowthMb?: number;
}

export interface RunResult {
  startedAt: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  coldStartMs: number[];
  /** Process start to the HTTP server listening (first answer of any kind). */
  listeningMs: number[];
  scenarios: ScenarioResult[];
  history: HistoryComparison;
  soak: Soak;
  /** Peak RSS of the soaked service process over its whole life (VmHWM). */
  servicePeakRssMb?: number;
}

export interface BenchReport {
  generatedBy: string;
  quick: boolean;
  machine: Record<string, unknown>;
  service: Record<string, string>;
  notes: string[];
  runs: RunResult[];
  /** Per scenario and figure: the median over the runs. */
  median: {
    scenarios: ScenarioResult[];
    coldStartMs: number;
    listeningMs: number;
    history: HistoryComparison;
    soak: Omit<Soak, 'samples'>;
  };
  checks: { item: string; value: string; ok: boolean }[];
}

function machineFacts(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    totalMemoryGb: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
  };
}

/** Environment of a benchmarked service process (every value a documented setting). */
function serviceEnv(dataDir: string, history: 'on' | 'off'): Record<string, string> {
  return {
    NODE_ENV: 'development',
    AUTH: 'disabled',
    BENCH_FLOOR: 'on',
    PREVIEW: 'off',
    LOG_LEVEL: 'info',
    METRICS: 'on',
    CARD_HISTORY: history,
    DATA_DIR: dataDir,
    BODY_LIMIT_BYTES: String(32 * 1024 * 1024), // the 10,000-resource prefetch is ~8.4 MB
  };
}

function hookBody(patientId: string, extra: Record<string, unknown>): Buffer {
  return Buffer.from(
    JSON.stringify({
      hook: 'patient-view',
      hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
      context: { userId: 'Practitioner/bench', patientId },
      ...extra,
    }),
  );
}

async function waitForQuiet(opts: Options, log: (s: string) => void): Promise<void> {
  if (!opts.waitQuiet) return;
  const until = Date.now() + opts.waitMinutes * 60_000;
  for (;;) {
    const load = os.loadavg()[0]!;
    if (load <= opts.maxLoad) return;
    if (Date.now() >= until) {
      log(`load average ${load.toFixed(2)} still above ${opts.maxLoad} after ${opts.waitMinutes} min: measuring anyway (recorded)`);
      return;
    }
    log(`load average ${load.toFixed(2)} > ${opts.maxLoad}: waiting for a quiet machine (up to ${Math.round((until - Date.now()) / 60_000)} more min)`);
    await new Promise((r) => setTimeout(r, Math.min(60_000, until - Date.now())));
  }
}

async function cardsOf(url: string, body: Buffer): Promise<number> {
  const res = await request(url, { method: 'POST', body, headers: JSON_HEADERS });
  if (res.status !== 200) throw new Error(`POST ${url} answered ${res.status}: ${res.body.slice(0, 500)}`);
  return (JSON.parse(res.body) as { cards: unknown[] }).cards.length;
}

async function heapUsedMb(service: ServiceChild): Promise<number | undefined> {
  try {
    const res = await request(`${service.url}/metrics`, { timeoutMs: 5_000 });
    const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(res.body);
    return m ? Number(m[1]) / 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

async function measure(s: Scenario, service: ServiceChild, fhirPid?: number): Promise<ScenarioResult> {
  const url = `${service.url}${s.path}`;
  const cards = await cardsOf(url, s.body);
  const spec: LoadSpec = { url, body: s.body, connections: s.connections, durationS: s.durationS, warmupS: s.warmupS, amount: s.amount, warmupAmount: s.warmupAmount };
  let from = 0;
  let cpu0 = 0;
  let fhirCpu0 = 0;
  let sampler: RssSampler | undefined;
  let fhirSampler: RssSampler | undefined;
  const load = await runLoad(spec, {
    onStart: () => {
      from = logSize(service.logFile);
      cpu0 = procStats(service.pid)?.cpuMs ?? NaN;
      fhirCpu0 = fhirPid ? (procStats(fhirPid)?.cpuMs ?? NaN) : NaN;
      sampler = new RssSampler(service.pid, 100);
      if (fhirPid) fhirSampler = new RssSampler(fhirPid, 100);
    },
  });
  const rss = sampler!.stop();
  const fhirRss = fhirSampler?.stop();
  const cpu1 = procStats(service.pid)?.cpuMs ?? NaN;
  const lines = readLog(service.logFile, from);
  const total = load.requests + load.non2xx;
  const result: ScenarioResult = {
    id: s.id,
    kind: s.kind,
    resources: s.resources,
    bodyBytes: s.body.length,
    cards,
    ...load,
    peakRssMb: round(rss.peakMb, 1),
    cpuMsPerRequest: round((cpu1 - cpu0) / Math.max(1, total), 3),
  };
  if (fhirPid) {
    result.fhirServerPeakRssMb = round(fhirRss?.peakMb, 1);
    result.fhirServerCpuMsPerRequest = round(((procStats(fhirPid)?.cpuMs ?? NaN) - fhirCpu0) / Math.max(1, total), 3);
  }
  if (s.kind !== 'floor') result.stages = summarizeStages(lines, '/cds-services/:id');
  else result.stages = summarizeStages(lines, FLOOR_PATH);
  return result;
}

async function oneRun(opts: Options, runIndex: number, log: (s: string) => void): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = os.loadavg().map((l) => round(l, 2)!);
  log(`run ${runIndex + 1}/${opts.runs}: load average ${loadAverageAtStart.join(' ')}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'il6-cds-bench-'));
  const children: { stop(): Promise<void> }[] = [];
  try {
    // ---- data ------------------------------------------------------------------------------------------------
    const discovery = JSON.parse(readFileSync(path.join(ROOT, 'cds-services', SERVICE_ID, 'discovery.json'), 'utf8')) as { prefetch: Record<string, string> };
    const templates = discovery.prefetch;
    const now = new Date();
    const sizes = [10, 100, 1000, 10000];
    const patients = new Map(sizes.map((n) => [n, scaledPatient(n, templates, `b${n}`, now)]));
    const prefetchBody = new Map(
      sizes.map((n) => {
        const p = patients.get(n)!;
        return [n, hookBody(p.patientId, { prefetch: buildPrefetch(templates, p.resources as FhirResource[], p.patientId) })];
      }),
    );

    log(`patients built (${sizes.join(', ')} resources)`);
    // ---- the test FHIR server, loaded with the fallback patients ---------------------------------------------
    const fhir = await startFhirServer(path.join(tmp, 'fhir-server.log'));
    children.push(fhir);
    const fallbackSizes = [100, 1000];
    for (const n of fallbackSizes) {
      for (const bundle of transactionBundles(patients.get(n)!)) {
        const res = await request(fhir.baseUrl, { method: 'POST', body: JSON.stringify(bundle), headers: { 'content-type': 'application/fhir+json' } });
        if (res.status !== 200) throw new Error(`loading the FHIR server failed (${res.status}): ${res.body.slice(0, 300)}`);
      }
    }
    log(`test FHIR server loaded (${fallbackSizes.join(', ')} resources)`);
    const fallbackBody = new Map(fallbackSizes.map((n) => [n, hookBody(patients.get(n)!.patientId, { fhirServer: fhir.baseUrl })]));

    // ---- cold starts: process start → first 200 of a hook call. Every service process of the run is a sample
    // (the store already exists after the first, as on any restart), plus a few started only for this. ---------
    const coldStartMs: number[] = [];
    const listeningMs: number[] = [];
    let started = 0;
    const start = async (name: string, history: 'on' | 'off'): Promise<ServiceChild> => {
      const port = await freePort();
      const i = started++;
      const t0 = performance.now();
      const svc = spawnService({ name, port, env: serviceEnv(path.join(tmp, `data-${history}`), history), logFile: path.join(tmp, `service-${i}.log`) });
      children.push(svc);
      // The floor answers once the app listens; rules, validators and the store are loaded before listen.
      listeningMs.push(round(await waitForStatus(svc, `${svc.url}${FLOOR_PATH}`, Buffer.from('{}'), t0), 1)!);
      coldStartMs.push(round(await waitForStatus(svc, `${svc.url}${HOOK_PATH}`, prefetchBody.get(10)!, t0), 1)!);
      return svc;
    };
    for (let i = 0; i < (opts.quick ? 0 : 2); i++) await (await start('service', 'on')).stop();
    const service = await start('service', 'on');

    // ---- scenarios ---------------------------------------------------------------------------------------------
    const q = opts.quick;
    // Quick (smoke) mode: a few requests per scenario, by count, so slow ones still complete some.
    const timing = (kind: Kind, n: number, c: number): Pick<Scenario, 'durationS' | 'warmupS' | 'amount' | 'warmupAmount'> => {
      const slow = n >= 10000 || (kind === 'fallback' && n >= 1000);
      if (q) return slow ? { durationS: 0, amount: c, warmupS: 0 } : { durationS: 0, amount: 4 * c, warmupS: 0, warmupAmount: c };
      if (n >= 10000) return { durationS: 20, warmupS: 0, warmupAmount: 4 };
      return { durationS: c === 1 ? 8 : 10, warmupS: slow ? 0 : 3, ...(slow ? { warmupAmount: 2 } : {}) };
    };
    const scenario = (kind: Kind, n: number, c: number, suffix = ''): Scenario => ({
      id: `${kind}-${n}${suffix}`,
      kind,
      resources: n,
      connections: c,
      path: kind === 'floor' ? FLOOR_PATH : HOOK_PATH,
      body: kind === 'fallback' ? fallbackBody.get(n)! : prefetchBody.get(n)!,
      ...timing(kind, n, c),
    });
    const list: Scenario[] = [
      ...[10, 100, 1000].flatMap((n) => [scenario('hook', n, 8), scenario('floor', n, 8)]),
      scenario('hook', 1000, 1, '-c1'),
      scenario('floor', 1000, 1, '-c1'),
      scenario('fallback', 100, 8),
      scenario('fallback', 100, 1, '-c1'),
      scenario('fallback', 1000, 1, '-c1'),
      scenario('hook', 10000, 2),
      scenario('floor', 10000, 2),
    ];
    const scenarios: ScenarioResult[] = [];
    for (const s of list) {
      const r = await measure(s, service, s.kind === 'fallback' ? fhir.pid : undefined);
      scenarios.push(r);
      log(
        `${s.id.padEnd(16)} c=${s.connections}  ${String(r.rps).padStart(7)} req/s  p50 ${String(r.latencyMs.p50).padStart(7)} ms  p99 ${String(r.latencyMs.p99).padStart(7)} ms  ` +
          `RSS ${r.peakRssMb} MB  CPU ${r.cpuMsPerRequest} ms/req${r.non2xx || r.errors ? `  non-2xx ${r.non2xx} errors ${r.errors}` : ''}`,
      );
    }

    // Fresh processes from here on (the 10,000-resource calls grew this one's heap); the quick mode reuses it.
    if (!q) await service.stop();

    // ---- card history on vs off: same scenario, two processes, alternating rounds -----------------------------
    const withHistory = q ? service : await start('service (CARD_HISTORY=on)', 'on');
    const off = await start('service (CARD_HISTORY=off)', 'off');
    const rounds = q ? 1 : 4;
    const historyScenario = (svc: ServiceChild): LoadSpec =>
      q ? { url: `${svc.url}${HOOK_PATH}`, body: prefetchBody.get(100)!, connections: 8, durationS: 0, amount: 32, warmupS: 0, warmupAmount: 8 } : { url: `${svc.url}${HOOK_PATH}`, body: prefetchBody.get(100)!, connections: 8, durationS: 6, warmupS: 2 };
    const sides = { on: [] as LoadResult[], off: [] as LoadResult[] };
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so neither always follows the other.
      const order: ['on' | 'off', ServiceChild][] = r % 2 === 0 ? [['on', withHistory], ['off', off]] : [['off', off], ['on', withHistory]];
      for (const [side, svc] of order) sides[side].push(await runLoad(historyScenario(svc)));
    }
    const side = (rs: LoadResult[]) => ({
      rps: round(median(rs.map((x) => x.rps)), 1)!,
      p50: round(median(rs.map((x) => x.latencyMs.p50)), 3)!,
      p99: round(median(rs.map((x) => x.latencyMs.p99)), 3)!,
      mean: round(median(rs.map((x) => x.latencyMs.mean)), 3)!,
    });
    const on = side(sides.on);
    const offSide = side(sides.off);
    const history: HistoryComparison = {
      rounds,
      connections: 8,
      resources: 100,
      on,
      off: offSide,
      ratio: { rps: round(on.rps / offSide.rps, 3)!, p50: round(on.p50 / offSide.p50, 3)!, p99: round(on.p99 / offSide.p99, 3)!, mean: round(on.mean / offSide.mean, 3)! },
    };
    await off.stop();
    if (!q) await withHistory.stop();
    log(`card history on/off (hook-100, c=8, ${rounds} alternating rounds): p50 ${on.p50}/${offSide.p50} ms (×${history.ratio.p50}), mean ${on.mean}/${offSide.mean} ms (×${history.ratio.mean}), ${on.rps}/${offSide.rps} req/s`);

    // ---- soak: sustained load on a fresh process, RSS and heap every 5 s ----------------------------------------
    const soaked = q ? withHistory : await start('service (soak)', 'on');
    const soakSeconds = opts.soakSeconds;
    const every = q ? 1 : 5;
    const samples: Soak['samples'] = [];
    const t0 = performance.now();
    const sample = async () => {
      const s = procStats(soaked.pid);
      const heap = await heapUsedMb(soaked);
      if (s) samples.push({ t: round((performance.now() - t0) / 1000, 1)!, rssMb: round(s.rssMb, 1)!, ...(heap !== undefined ? { heapUsedMb: round(heap, 1) } : {}) });
    };
    await sample();
    const timer = setInterval(() => void sample(), every * 1000);
    const soakLoad = await runLoad({ url: `${soaked.url}${HOOK_PATH}`, body: prefetchBody.get(100)!, connections: 8, durationS: soakSeconds, warmupS: 0 });
    clearInterval(timer);
    await sample();
    const settled = samples.filter((s) => s.t >= Math.min(30, soakSeconds / 4));
    const firstWindow = settled.filter((s) => s.t < settled[0]!.t + Math.min(30, soakSeconds / 4));
    const lastWindow = settled.filter((s) => s.t > soakSeconds - Math.min(30, soakSeconds / 4));
    const perMin = (v: number | undefined) => (v === undefined ? undefined : round(v * 60, 2));
    const soak: Soak = {
      seconds: soakSeconds,
      connections: 8,
      resources: 100,
      rps: soakLoad.rps,
      p50: soakLoad.latencyMs.p50,
      p99: soakLoad.latencyMs.p99,
      samples,
      peakRssMb: round(Math.max(...samples.map((s) => s.rssMb)), 1)!,
      rssFirstMb: round(median(firstWindow.map((s) => s.rssMb)), 1) ?? NaN,
      rssLastMb: round(median(lastWindow.map((s) => s.rssMb)), 1) ?? NaN,
      rssSlopeMbPerMin: perMin(slope(settled.map((s) => ({ x: s.t, y: s.rssMb })))),
      heapSlopeMbPerMin: perMin(slope(settled.filter((s) => s.heapUsedMb !== undefined).map((s) => ({ x: s.t, y: s.heapUsedMb! })))),
      rssGrowthMb: 0,
    };
    soak.rssGrowthMb = round(soak.rssLastMb - soak.rssFirstMb, 1) ?? NaN;
    const heapFloor = (w: Soak['samples']) => {
      const h = w.flatMap((s) => (s.heapUsedMb !== undefined ? [s.heapUsedMb] : []));
      return h.length > 0 ? Math.min(...h) : undefined;
    };
    soak.heapFloorFirstMb = heapFloor(firstWindow);
    soak.heapFloorLastMb = heapFloor(lastWindow);
    if (soak.heapFloorFirstMb !== undefined && soak.heapFloorLastMb !== undefined) soak.heapFloorGrowthMb = round(soak.heapFloorLastMb - soak.heapFloorFirstMb, 1);
    log(`soak ${soakSeconds} s (hook-100, c=8): ${soak.rps} req/s, p99 ${soak.p99} ms, RSS peak ${soak.peakRssMb} MB, ${soak.rssFirstMb} → ${soak.rssLastMb} MB, heap after collections ${soak.heapFloorFirstMb} → ${soak.heapFloorLastMb} MB`);

    const servicePeakRssMb = round(procStats(soaked.pid)?.hwmMb, 1);
    await soaked.stop();
    return { startedAt, loadAverageAtStart, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)!), coldStartMs, listeningMs, scenarios, history, soak, servicePeakRssMb };
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- medians and checks ----------------------------------------------------------------------------------------

/** The median of every number at the same place in `objects` (objects and arrays of the same shape). */
export function medianOf<T>(objects: T[]): T {
  const first = objects[0];
  if (typeof first === 'number') return round(median(objects as number[]), 3) as T;
  if (Array.isArray(first)) return first.map((_, i) => medianOf(objects.map((o) => (o as unknown[])[i]))) as T;
  if (first && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = medianOf(objects.map((o) => (o as Record<string, unknown>)[key]));
    return out as T;
  }
  return first as T;
}

function checks(m: BenchReport['median']): BenchReport['checks'] {
  const get = (id: string) => m.scenarios.find((s) => s.id === id);
  const out: BenchReport['checks'] = [];
  const hook100 = get('hook-100');
  const floor100 = get('floor-100');
  const hook1000 = get('hook-1000');
  const fallback100 = get('fallback-100');
  const fallback100c1 = get('fallback-100-c1');
  if (hook100) out.push({ item: 'hook-100, c=8: p99 ≤ 20 ms', value: `${hook100.latencyMs.p99} ms`, ok: hook100.latencyMs.p99 <= 20 });
  if (hook100 && floor100) {
    const ratio = hook100.rps / floor100.rps;
    out.push({ item: 'hook-100, c=8: throughput ≥ 50 % of the floor', value: `${hook100.rps} / ${floor100.rps} req/s = ${Math.round(ratio * 100)} %`, ok: ratio >= 0.5 });
  }
  if (hook1000) out.push({ item: 'hook-1000, c=8: p99 ≤ 100 ms', value: `${hook1000.latencyMs.p99} ms`, ok: hook1000.latencyMs.p99 <= 100 });
  const c1 = get('hook-1000-c1');
  if (c1) out.push({ item: 'hook-1000, c=1: p99 ≤ 100 ms', value: `${c1.latencyMs.p99} ms`, ok: c1.latencyMs.p99 <= 100 });
  out.push({ item: 'cold start to the first successful hook ≤ 1.5 s', value: `${m.coldStartMs} ms`, ok: m.coldStartMs <= 1500 });
  out.push({ item: 'RSS under sustained load ≤ 250 MB', value: `${m.soak.peakRssMb} MB`, ok: m.soak.peakRssMb <= 250 });
  const growth = m.soak.rssGrowthMb;
  const heapGrowth = m.soak.heapFloorGrowthMb;
  out.push({
    item: `no growth over the ${m.soak.seconds} s run (last 30 s vs the first 30 s after warm-up, within each run: median RSS and the heap after collections each grow ≤ 5 MB)`,
    value: `RSS ${round(growth, 1)} MB, heap after collections ${round(heapGrowth, 1) ?? '?'} MB`,
    ok: growth <= 5 && (heapGrowth ?? 0) <= 5,
  });
  if (fallback100) out.push({ item: 'fallback-100 (local FHIR server), c=8: p50 ≤ 50 ms', value: `${fallback100.latencyMs.p50} ms`, ok: fallback100.latencyMs.p50 <= 50 });
  if (fallback100c1) out.push({ item: 'fallback-100 (local FHIR server), c=1: p50 ≤ 50 ms', value: `${fallback100c1.latencyMs.p50} ms`, ok: fallback100c1.latencyMs.p50 <= 50 });
  const h = m.history.ratio;
  out.push({ item: 'card history on within 5 % of off (hook-100, p50 and mean latency)', value: `p50 ×${h.p50}, mean ×${h.mean}`, ok: h.p50 <= 1.05 && h.mean <= 1.05 });
  return out;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<BenchReport> {
  const opts = parseOptions(argv, env);
  const t0 = performance.now();
  const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  log(`${opts.quick ? 'quick (smoke) mode' : 'full run'}: ${opts.runs} run(s) → ${path.relative(process.cwd(), opts.out) || opts.out}`);
  const runs: RunResult[] = [];
  for (let i = 0; i < opts.runs; i++) {
    await waitForQuiet(opts, log);
    runs.push(await oneRun(opts, i, log));
  }
  const scenarioIds = runs[0]!.scenarios.map((s) => s.id);
  const med: BenchReport['median'] = {
    scenarios: scenarioIds.map((id) => medianOf(runs.map((r) => r.scenarios.find((s) => s.id === id)!))),
    coldStartMs: round(median(runs.flatMap((r) => r.coldStartMs)), 1)!,
    listeningMs: round(median(runs.flatMap((r) => r.listeningMs)), 1)!,
    history: medianOf(runs.map((r) => r.history)),
    soak: medianOf(runs.map(({ soak: { samples: _samples, ...rest } }) => rest)),
  };
  const report: BenchReport = {
    generatedBy: `npm run bench${opts.quick ? ' -- --quick' : ''}${opts.runs !== (opts.quick ? 1 : 3) ? ` --runs ${opts.runs}` : ''}`,
    quick: opts.quick,
    machine: { ...machineFacts(), loadAverageAtStart: runs.map((r) => r.loadAverageAtStart) },
    service: { ...serviceEnv('<temp>', 'on'), PORT: '<free port>', HOST: '127.0.0.1' },
    notes: [
      'AUTH=disabled: no JWT is verified (it would cost the hook and the floor the same, one ES384 verification per call).',
      'Latencies are exact (per response, hrtime), measured by autocannon in the harness process on loopback; the service is a child process; the test FHIR server another.',
      'cpuMsPerRequest is the service process CPU time (user+system, /proc) divided by the requests of the measured window.',
      'median: per scenario, the median over the runs of each figure.',
    ],
    runs,
    median: med,
    checks: checks(med),
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(report, null, 2)}\n`);
  printReport(report, (s) => process.stdout.write(`${s}\n`));
  log(`results written to ${opts.out}`);
  return report;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).catch((err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
