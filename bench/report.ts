/** The benchmark's tables (Markdown, so they paste into the README as they are). */
import type { BenchReport, ScenarioResult } from './run';

const fmt = (v: number | undefined, digits = 1): string => (v === undefined || v === null || Number.isNaN(v) ? '—' : v.toFixed(digits));
const kb = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} kB`);

function floorFor(all: ScenarioResult[], s: ScenarioResult): ScenarioResult | undefined {
  if (s.kind === 'floor') return undefined;
  const suffix = s.id.replace(/^\w+-\d+/, '');
  return all.find((f) => f.kind === 'floor' && f.resources === s.resources && f.id.replace(/^\w+-\d+/, '') === suffix);
}

export function scenarioTable(all: ScenarioResult[]): string[] {
  const rows = [
    '| scenario | resources | body | conn. | req/s | p50 ms | p99 ms | peak RSS MB | service CPU ms/req | req/s vs floor |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of all) {
    const floor = floorFor(all, s);
    const ratio = floor ? `${Math.round((100 * s.rps) / floor.rps)} %` : '';
    rows.push(
      `| ${s.id} | ${s.resources.toLocaleString('en')} | ${kb(s.bodyBytes)} | ${s.connections} | ${fmt(s.rps)} | ${fmt(s.latencyMs.p50, 2)} | ${fmt(s.latencyMs.p99, 2)} | ${fmt(s.peakRssMb)} | ${fmt(s.cpuMsPerRequest, 2)} | ${ratio} |`,
    );
  }
  return rows;
}

export function stageTable(all: ScenarioResult[]): string[] {
  const rows = [
    '| scenario | validate | prefetch | fetch | evaluate | render | other | whole request (server) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of all) {
    if (s.kind === 'floor' || !s.stages) continue;
    const m = s.stages.median;
    rows.push(`| ${s.id} | ${fmt(m.validate, 2)} | ${fmt(m.prefetch, 2)} | ${fmt(m.fetch, 2)} | ${fmt(m.evaluate, 2)} | ${fmt(m.render, 2)} | ${fmt(m.other, 2)} | ${fmt(m.request, 2)} |`);
  }
  return rows;
}

/** CPU per request and per resource across sizes (the scaling table). */
export function scalingTable(all: ScenarioResult[]): string[] {
  const rows = [
    '| resources | hook CPU ms/req | floor CPU ms/req | hook − floor, µs/resource | evaluate µs/resource | prefetch (screening) µs/resource | render ms |',
    '|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of all.filter((x) => x.kind === 'hook' && /^hook-\d+$/.test(x.id))) {
    const floor = floorFor(all, s);
    const extra = floor && s.cpuMsPerRequest !== undefined && floor.cpuMsPerRequest !== undefined ? ((s.cpuMsPerRequest - floor.cpuMsPerRequest) * 1000) / s.resources : undefined;
    const ev = s.stages?.median.evaluate;
    const pre = s.stages?.median.prefetch;
    rows.push(
      `| ${s.resources.toLocaleString('en')} | ${fmt(s.cpuMsPerRequest, 2)} | ${fmt(floor?.cpuMsPerRequest, 2)} | ${fmt(extra, 1)} | ${fmt(ev === undefined ? undefined : (ev * 1000) / s.resources, 1)} | ${fmt(pre === undefined ? undefined : (pre * 1000) / s.resources, 1)} | ${fmt(s.stages?.median.render, 2)} |`,
    );
  }
  return rows;
}

export function printReport(r: BenchReport, out: (s: string) => void): void {
  const m = r.machine;
  out('');
  out(`il6-cds benchmark — ${String(m.cpuModel)}, ${String(m.cores)} cores, ${String(m.totalMemoryGb)} GB, ${String(m.platform)}, Node ${String(m.node)}; ${r.runs.length} run(s), medians; load average at start ${r.runs.map((x) => x.loadAverageAtStart[0]).join(', ')}`);
  out('');
  for (const line of scenarioTable(r.median.scenarios)) out(line);
  out('');
  out('Stages (median ms, from the service log; "other" = whole request − stages: HTTP, body parsing, middleware, serialisation, logging):');
  out('');
  for (const line of stageTable(r.median.scenarios)) out(line);
  out('');
  out('Scaling:');
  out('');
  for (const line of scalingTable(r.median.scenarios)) out(line);
  out('');
  const h = r.median.history;
  out(`Cold start (process start → first 200 of a hook call): median ${r.median.coldStartMs} ms (listening ${r.median.listeningMs} ms); samples ${r.runs.map((x) => x.coldStartMs.join('/')).join(', ')} ms`);
  out(`Card history on vs off (hook-${h.resources}, c=${h.connections}, ${h.rounds} alternating rounds): p50 ${h.on.p50} vs ${h.off.p50} ms (×${h.ratio.p50}), mean ${h.on.mean} vs ${h.off.mean} ms (×${h.ratio.mean}), p99 ${h.on.p99} vs ${h.off.p99} ms, ${h.on.rps} vs ${h.off.rps} req/s`);
  const s = r.median.soak;
  out(`Soak ${s.seconds} s (hook-${s.resources}, c=${s.connections}): ${s.rps} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms; RSS peak ${s.peakRssMb} MB, ${s.rssFirstMb} → ${s.rssLastMb} MB (slope ${s.rssSlopeMbPerMin} MB/min); heap after collections ${s.heapFloorFirstMb} → ${s.heapFloorLastMb} MB; growth within a run (median): RSS ${s.rssGrowthMb} MB, heap after collections ${s.heapFloorGrowthMb ?? '?'} MB`);
  out('');
  out('Done-when checks:');
  for (const c of r.checks) out(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.item}: ${c.value}`);
}
