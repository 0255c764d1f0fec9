/**
 * Cards as a clinician would read them, in a terminal: indicator, summary, the detail with its Markdown turned
 * into plain text (escapes undone with `readableText`, emphasis dropped, tables aligned, long lines wrapped),
 * suggestions, links and override reasons. Colour only when asked (a terminal without NO_COLOR).
 */
import type { Card, CdsResponse } from '../../cds-hooks/types';
import { readableText } from '../../cards/markdown';

export interface PrintOptions {
  color?: boolean;
  /** Wrap width (default 100). */
  width?: number;
}

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', cyan: '\x1b[36m' };
const INDICATOR_COLOR: Record<string, string> = { critical: ANSI.red, warning: ANSI.yellow, info: ANSI.cyan };
const INDENT = '   ';

export function formatCards(response: CdsResponse, opts: PrintOptions = {}): string {
  const cards = response.cards ?? [];
  if (cards.length === 0) return 'No cards: nothing to report for this patient.\n';
  return `${cards.map((c, i) => formatCard(c, i, cards.length, opts)).join('\n')}`;
}

export function formatCard(card: Card, index: number, total: number, opts: PrintOptions = {}): string {
  const paint = (code: string, text: string) => (opts.color ? `${code}${text}${ANSI.reset}` : text);
  const width = opts.width ?? 100;
  const out: string[] = [];
  const indicator = paint(`${ANSI.bold}${INDICATOR_COLOR[card.indicator] ?? ''}`, `[${card.indicator.toUpperCase()}]`);
  out.push(`${paint(ANSI.dim, `── card ${index + 1} of ${total} `)}${indicator} ${paint(ANSI.bold, readableText(card.summary))}`);
  const topic = card.source.topic?.code ? `finding ${card.source.topic.code} · ` : '';
  out.push(paint(ANSI.dim, `${INDENT}${topic}${readableText(card.source.label)}`));
  if (card.detail) {
    out.push('');
    for (const line of markdownToText(card.detail, { ...opts, width: width - INDENT.length })) out.push(line ? `${INDENT}${line}` : '');
  }
  if (card.suggestions?.length) {
    out.push('', `${INDENT}${paint(ANSI.bold, 'Suggestions')}${card.selectionBehavior ? paint(ANSI.dim, ` (select ${card.selectionBehavior})`) : ''}`);
    for (const s of card.suggestions) {
      const actions = (s.actions ?? []).map((a) => `${a.type}: ${readableText(a.description)}`);
      out.push(...wrap(`• ${readableText(s.label)}${s.isRecommended ? ' (recommended)' : ''}${actions.length ? ` — ${actions.join('; ')}` : ''}`, width - INDENT.length - 2, '  ').map((l) => `${INDENT}  ${l}`));
    }
  }
  if (card.links?.length) {
    out.push('', `${INDENT}${paint(ANSI.bold, 'Links')}`);
    for (const l of card.links) out.push(`${INDENT}  • ${readableText(l.label)}: ${l.url}${l.type === 'smart' ? ' (SMART app)' : ''}`);
  }
  if (card.overrideReasons?.length) {
    out.push('', ...wrap(`${opts.color ? `${ANSI.bold}Override reasons${ANSI.reset}` : 'Override reasons'}: ${card.overrideReasons.map((r) => r.display || r.code).join('; ')}`, width - INDENT.length, '  ').map((l) => `${INDENT}${l}`));
  }
  return `${out.join('\n')}\n`;
}

/** Card Markdown (the subset the renderer writes) as plain lines. */
export function markdownToText(md: string, opts: PrintOptions = {}): string[] {
  const width = opts.width ?? 100;
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trimStart().startsWith('|')) {
      const block: string[] = [];
      while (i < lines.length && lines[i]!.trimStart().startsWith('|')) block.push(lines[i++]!);
      i--;
      out.push(...alignTable(block, opts));
      continue;
    }
    const bullet = /^(\s*)[-*] (.*)$/.exec(line);
    if (bullet) {
      out.push(...wrap(`• ${inline(bullet[2]!, opts)}`, width, '  ').map((l) => `${bullet[1]}${l}`));
      continue;
    }
    out.push(...(line.trim() === '' ? [''] : wrap(inline(line, opts), width, '')));
  }
  return out;
}

/** Emphasis and links of one line to plain text, then Markdown escapes and entities undone. */
function inline(text: string, opts: PrintOptions): string {
  const bold = (s: string) => (opts.color ? `${ANSI.bold}${s}${ANSI.reset}` : s);
  return readableText(
    text
      .replace(/(?<!\\)\*\*(.+?)(?<!\\)\*\*/g, (_, s: string) => bold(s))
      .replace(/(?<![\\*\w])\*(?!\s)(.+?)(?<![\\\s])\*(?![*\w])/g, '$1')
      .replace(/(?<![\\!])\[([^\]]+)\]\(([^)\s]+)\)/g, '$1 <$2>'),
  );
}

function alignTable(block: string[], opts: PrintOptions): string[] {
  const rows = block
    .filter((l) => !/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(l))
    .map((l) =>
      l
        .trim()
        .replace(/^\|/, '')
        .replace(/(?<!\\)\|$/, '')
        .split(/(?<!\\)\|/)
        .map((c) => inline(c.trim(), { ...opts, color: false })),
    );
  const cols = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, n) => {
    const text = r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
    return n === 0 && opts.color ? `${ANSI.dim}${text}${ANSI.reset}` : text;
  });
}

/** Greedy word wrap; continuation lines start with `hang`. Words longer than the width stay whole. */
function wrap(text: string, width: number, hang: string): string[] {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  if (visible(text) <= width) return [text];
  const words = text.split(' ');
  const lines: string[] = [];
  let current = '';
  for (const w of words) {
    const candidate = current ? `${current} ${w}` : w;
    if (current && visible(candidate) > width) {
      lines.push(current);
      current = `${hang}${w}`;
    } else current = candidate;
  }
  if (current) lines.push(current);
  return lines;
}
