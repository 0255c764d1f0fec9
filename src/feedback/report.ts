/** The summary as a table a person reads in a terminal (`il6-cds feedback-summary`). */
import type { ReasonCount, Summary } from '../store/types';

const percent = (rate: number | null): string => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);

function reasonLabel(r: ReasonCount): string {
  if (r.code === null) return 'no reason given';
  return r.display ? `${r.display} (${r.code})` : r.code;
}

export function formatSummary(summary: Summary): string {
  const range =
    summary.from || summary.to ? `cards issued ${summary.from ? `from ${summary.from}` : ''}${summary.from && summary.to ? ' ' : ''}${summary.to ? `before ${summary.to}` : ''}` : 'all cards issued';
  const lines = [`Feedback summary: ${summary.serviceId ? `service ${summary.serviceId}` : 'all services'}, ${range}`, ''];
  if (summary.findings.length === 0) {
    lines.push('No cards were issued in this range.');
  } else {
    const header = ['service', 'finding', 'rules', 'profile', 'issued', 'accepted', 'overridden', 'no feedback', 'acceptance'];
    const rows = summary.findings.map((f) => [f.serviceId, f.findingCode, f.ruleSetVersion, f.profile, String(f.issued), String(f.accepted), String(f.overridden), String(f.noFeedback), percent(f.acceptanceRate)]);
    const t = summary.totals;
    const total = ['total', '', '', '', String(t.issued), String(t.accepted), String(t.overridden), String(t.noFeedback), percent(t.acceptanceRate)];
    const widths = header.map((h, i) => Math.max(h.length, ...[...rows, total].map((r) => r[i]!.length)));
    const numeric = (i: number) => i >= 4;
    const render = (cells: string[]) => cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
    lines.push(render(header));
    summary.findings.forEach((f, i) => {
      lines.push(render(rows[i]!));
      if (f.overriddenByReason.length > 0) lines.push(`    overridden because: ${f.overriddenByReason.map((r) => `${reasonLabel(r)} ${r.count}`).join('; ')}`);
    });
    lines.push(render(total));
  }
  lines.push('', `Feedback for cards the service never issued (not attributable): ${summary.unknownCardFeedback}`);
  lines.push('Acceptance = accepted / issued. A card counts once, with its latest feedback; "no feedback" = ignored or never reported.');
  return `${lines.join('\n')}\n`;
}
