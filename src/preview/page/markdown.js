// A small, safe Markdown renderer for CDS card `detail`: the subset cards use — paragraphs, line breaks,
// **bold**, *italics*, `code`, bullet and numbered lists, tables, headings, rules, quotes, fenced code,
// backslash escapes and HTML entities. Everything else (raw HTML, links, images, autolinks) stays literal
// text. The parser builds a tree; `renderMarkdown` turns it into DOM nodes with createElement and text nodes
// only (never innerHTML), `markdownToHtml` into an escaped HTML string (tests, non-DOM use).
//
// No imports and a single export statement at the end: the jest tests load this same file.

const ESCAPABLE = /^[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]$/;
const NAMED_ENTITIES = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', ndash: '\u2013', mdash: '\u2014',
  hellip: '\u2026', times: '\u00d7', le: '\u2264', ge: '\u2265', deg: '\u00b0', micro: '\u00b5', middot: '\u00b7',
  rarr: '\u2192', larr: '\u2190', plusmn: '\u00b1', copy: '\u00a9', reg: '\u00ae', trade: '\u2122', shy: '\u00ad',
};

/** Tags the tree may contain; the DOM renderer refuses anything else. */
const TAGS = new Set(['p', 'br', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'h3', 'h4', 'h5', 'h6', 'hr', 'blockquote']);

const RE = {
  blank: /^\s*$/,
  fence: /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/,
  heading: /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/,
  rule: /^\s{0,3}([-*_])(\s*\1){2,}\s*$/,
  bullet: /^(\s*)[-*+]\s+(.*)$/,
  ordered: /^(\s*)(\d{1,9})[.)]\s+(.*)$/,
  quote: /^\s{0,3}>\s?(.*)$/,
  tableRow: /^\s*\|/,
  tableDivider: /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/,
};

/** Markdown source → block tree: [{ tag, children }] with text as { text }. */
function parseMarkdown(source) {
  const lines = String(source ?? '').replace(/\r\n?/g, '\n').replace(/\u0000/g, '\ufffd').split('\n');
  return parseBlocks(lines);
}

function parseBlocks(lines) {
  const blocks = [];
  let i = 0;
  const startsBlock = (line, next) =>
    RE.fence.test(line) || RE.heading.test(line) || RE.rule.test(line) || RE.bullet.test(line) || RE.ordered.test(line) || RE.quote.test(line) ||
    (RE.tableRow.test(line) && next !== undefined && RE.tableDivider.test(next));
  while (i < lines.length) {
    const line = lines[i];
    if (RE.blank.test(line)) {
      i++;
      continue;
    }
    let m = RE.fence.exec(line);
    if (m) {
      const close = m[1];
      const body = [];
      i++;
      const isClose = (l) => {
        const f = /^\s{0,3}(`{3,}|~{3,})\s*$/.exec(l);
        return f !== null && f[1][0] === close[0] && f[1].length >= close.length;
      };
      while (i < lines.length && !isClose(lines[i])) body.push(lines[i++]);
      i++;
      blocks.push(el('pre', [el('code', [text(body.join('\n'))])]));
      continue;
    }
    m = RE.heading.exec(line);
    if (m) {
      blocks.push(el(`h${Math.min(6, m[1].length + 2)}`, parseInline(m[2])));
      i++;
      continue;
    }
    if (RE.rule.test(line)) {
      blocks.push(el('hr', []));
      i++;
      continue;
    }
    if (RE.tableRow.test(line) && i + 1 < lines.length && RE.tableDivider.test(lines[i + 1])) {
      const header = splitRow(line);
      const align = splitRow(lines[i + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : null));
      i += 2;
      const rows = [];
      while (i < lines.length && RE.tableRow.test(lines[i])) rows.push(splitRow(lines[i++]));
      const cell = (tag, content, k) => {
        const node = el(tag, parseInline(content));
        if (align[k]) node.align = align[k];
        return node;
      };
      const head = el('thead', [el('tr', header.map((c, k) => cell('th', c, k)))]);
      const body = el('tbody', rows.map((r) => el('tr', header.map((_, k) => cell('td', r[k] ?? '', k)))));
      blocks.push(el('table', rows.length > 0 ? [head, body] : [head]));
      continue;
    }
    if (RE.bullet.test(line) || RE.ordered.test(line)) {
      const ordered = !RE.bullet.test(line);
      const items = [];
      while (i < lines.length) {
        const item = ordered ? RE.ordered.exec(lines[i]) : RE.bullet.exec(lines[i]);
        if (!item) break;
        const content = [ordered ? item[3] : item[2]];
        i++;
        // Continuation lines: indented, not blank, not a new item of either kind.
        while (i < lines.length && !RE.blank.test(lines[i]) && /^\s{2,}\S/.test(lines[i]) && !RE.bullet.test(lines[i]) && !RE.ordered.test(lines[i])) content.push(lines[i++].trim());
        items.push(el('li', parseInline(content.join('\n'))));
      }
      const list = el(ordered ? 'ol' : 'ul', items);
      if (ordered) {
        const first = Number(RE.ordered.exec(line)[2]);
        if (first !== 1) list.start = first;
      }
      blocks.push(list);
      continue;
    }
    if (RE.quote.test(line)) {
      const inner = [];
      while (i < lines.length && RE.quote.test(lines[i])) inner.push(RE.quote.exec(lines[i++])[1]);
      blocks.push(el('blockquote', parseBlocks(inner)));
      continue;
    }
    const para = [line];
    i++;
    while (i < lines.length && !RE.blank.test(lines[i]) && !startsBlock(lines[i], lines[i + 1])) para.push(lines[i++]);
    blocks.push(el('p', parseInline(para.map((l) => l.replace(/^\s+/, '')).join('\n'))));
  }
  return blocks;
}

/** Cells of a table row: split on pipes that are neither escaped nor inside a code span. */
function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  const cells = [];
  let cur = '';
  let inCode = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === '`') inCode = !inCode;
    if (c === '|' && !inCode) {
      cells.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '' || !s.endsWith('|')) cells.push(cur.trim());
  return cells;
}

/** Inline Markdown → nodes: text, strong, em, code, br. */
function parseInline(s) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(text(buf));
    buf = '';
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      const next = s[i + 1];
      if (next === '\n') {
        flush();
        out.push(el('br', []));
        i += 2;
        continue;
      }
      if (next !== undefined && ESCAPABLE.test(next)) {
        buf += next;
        i += 2;
        continue;
      }
      buf += c;
      i++;
      continue;
    }
    if (c === '&') {
      const m = /^&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});/.exec(s.slice(i, i + 40));
      const decoded = m ? decodeEntity(m[1]) : null;
      if (m && decoded !== null) {
        buf += decoded;
        i += m[0].length;
        continue;
      }
      buf += c;
      i++;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(s.slice(i))[0];
      const close = findCodeClose(s, i + run.length, run.length);
      if (close >= 0) {
        let code = s.slice(i + run.length, close).replace(/\n/g, ' ');
        if (code.length > 1 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
        flush();
        out.push(el('code', [text(code)]));
        i = close + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    if (c === '*' || c === '_') {
      const span = emphasis(s, i);
      if (span) {
        flush();
        out.push(el(span.tag, parseInline(s.slice(span.start, span.end))));
        i = span.next;
        continue;
      }
      const run = c === '*' ? /^\*+/.exec(s.slice(i))[0] : /^_+/.exec(s.slice(i))[0];
      buf += run;
      i += run.length;
      continue;
    }
    if (c === '\n') {
      if (/ {2,}$/.test(buf)) {
        buf = buf.replace(/ +$/, '');
        flush();
        out.push(el('br', []));
      } else {
        buf = buf.replace(/ +$/, '') + ' ';
      }
      i++;
      while (s[i] === ' ') i++;
      continue;
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}

/** `**strong**` / `__strong__` or `*em*` / `_em_` opening at i: its content range, or null. */
function emphasis(s, i) {
  const c = s[i];
  const wordChar = (ch) => ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
  if (c === '_' && wordChar(s[i - 1])) return null; // snake_case stays literal
  const double = s[i + 1] === c;
  const tries = double ? [2, 1] : [1];
  for (const n of tries) {
    const start = i + n;
    if (start >= s.length || /\s/.test(s[start])) continue;
    const end = findClose(s, start, c, n);
    if (end < 0) continue;
    if (c === '_' && wordChar(s[end + n])) continue;
    return { tag: n === 2 ? 'strong' : 'em', start, end, next: end + n };
  }
  return null;
}

/** Index of the closing delimiter (n × c) after `from`, skipping escapes and code spans; -1 when none. */
function findClose(s, from, c, n) {
  for (let j = from; j < s.length; j++) {
    const ch = s[j];
    if (ch === '\\') {
      j++;
      continue;
    }
    if (ch === '`') {
      const run = /^`+/.exec(s.slice(j))[0];
      const close = findCodeClose(s, j + run.length, run.length);
      if (close >= 0) j = close + run.length - 1;
      continue;
    }
    if (ch !== c) continue;
    let k = j;
    while (s[k] === c) k++;
    const len = k - j;
    if (j > from && !/\s/.test(s[j - 1])) {
      if (len === n) return j;
      if (len === 3) return n === 2 ? j + 1 : j; // ***: closes an inner *em* and the **strong** around it
    }
    if (n === 1 && len === 2) {
      // A nested **strong** inside *em*: skip over it whole.
      const inner = findClose(s, k, c, 2);
      if (inner >= 0) {
        j = inner + 1;
        continue;
      }
    }
    j = k - 1;
  }
  return -1;
}

function findCodeClose(s, from, n) {
  for (let j = from; j < s.length; j++) {
    if (s[j] !== '`') continue;
    let k = j;
    while (s[k] === '`') k++;
    if (k - j === n) return j;
    j = k - 1;
  }
  return -1;
}

function decodeEntity(body) {
  if (body[0] === '#') {
    const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    if (!Number.isFinite(cp) || cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
    return String.fromCodePoint(cp);
  }
  return Object.prototype.hasOwnProperty.call(NAMED_ENTITIES, body) ? NAMED_ENTITIES[body] : null;
}

function el(tag, children) {
  return { tag, children };
}

function text(value) {
  return { text: value };
}

/** Markdown → a DocumentFragment built from elements and text nodes only. */
function renderMarkdown(source, doc = globalThis.document) {
  const frag = doc.createDocumentFragment();
  const build = (node) => {
    if ('text' in node) return doc.createTextNode(node.text);
    if (!TAGS.has(node.tag)) throw new Error(`markdown: unexpected tag ${node.tag}`);
    const e = doc.createElement(node.tag);
    if (node.align) e.className = `align-${node.align}`;
    if (node.start !== undefined) e.setAttribute('start', String(node.start));
    for (const child of node.children) e.appendChild(build(child));
    return e;
  };
  for (const block of parseMarkdown(source)) frag.appendChild(build(block));
  return frag;
}

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** Markdown → HTML with every piece of text escaped (same tree as renderMarkdown). */
function markdownToHtml(source) {
  const emit = (node) => {
    if ('text' in node) return escapeHtml(node.text);
    if (!TAGS.has(node.tag)) throw new Error(`markdown: unexpected tag ${node.tag}`);
    const attrs = `${node.align ? ` class="align-${node.align}"` : ''}${node.start !== undefined ? ` start="${node.start}"` : ''}`;
    if (node.tag === 'br' || node.tag === 'hr') return `<${node.tag}${attrs}>`;
    return `<${node.tag}${attrs}>${node.children.map(emit).join('')}</${node.tag}>`;
  };
  return parseMarkdown(source).map(emit).join('\n');
}

export { parseMarkdown, renderMarkdown, markdownToHtml, escapeHtml };
