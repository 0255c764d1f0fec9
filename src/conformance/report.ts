/** The conformance report as text (one line per item, what was seen under it) or as JSON for machines. */
import { SECTION_TITLES } from './checklist';
import type { ConformanceReport } from './runner';
import type { CheckResult, Section } from './types';

export interface TextOptions {
  color?: boolean;
}

const COLORS = { PASS: '\x1b[32m', FAIL: '\x1b[31m', SKIP: '\x1b[33m' } as const;
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

export function resultLine(r: CheckResult, opts: TextOptions = {}): string {
  const status = opts.color ? `${COLORS[r.status]}${r.status}${RESET}` : r.status;
  const service = r.service ? ` (${r.service})` : '';
  const lines = [`${String(r.item).padStart(3)} [${r.tag}] ${status}  ${r.title}${service}`];
  const prefix = r.status === 'FAIL' ? 'saw' : r.status === 'SKIP' ? 'why' : 'note';
  for (const d of r.details) lines.push(`           ${prefix}: ${d}`);
  for (const n of r.notes) lines.push(opts.color ? `           ${DIM}note: ${n}${RESET}` : `           note: ${n}`);
  return lines.join('\n');
}

export function formatText(report: ConformanceReport, opts: TextOptions = {}): string {
  const out: string[] = [];
  out.push(`CDS Hooks conformance of ${report.target}`);
  out.push(`services: ${report.services.join(', ') || 'none found'} · tokens: ${report.signer} · data: ${report.fhir}`);
  let section: Section | undefined;
  for (const r of report.results) {
    if (r.section !== section) {
      section = r.section;
      out.push('', SECTION_TITLES[section]);
    }
    out.push(resultLine(r, opts));
  }
  const s = report.summary;
  out.push('');
  out.push(`${s.pass} PASS, ${s.fail} FAIL, ${s.skip} SKIP in ${(report.ms / 1000).toFixed(1)} s`);
  if (s.failedShall.length > 0) out.push(`[S] items failed: ${s.failedShall.join(', ')} → exit code 1`);
  if (s.failedOther.length > 0) out.push(`[R]/[I] items failed (reported, exit code not affected): ${s.failedOther.join(', ')}`);
  if (s.errors > 0 && s.failedShall.length === 0) out.push(`${s.errors} check(s) could not be run by the suite (see "why") → exit code 2`);
  return out.join('\n');
}

export function formatJson(report: ConformanceReport): string {
  return JSON.stringify(report, null, 2);
}
