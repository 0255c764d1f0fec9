// The patient chart: hand-written SVG. The series (left axis) over time with the rule file's bands shaded
// behind it, one mark per result (distinct shapes for each marked relation, hollow for excluded results, a
// cross on the time axis for results without a usable value), the secondary fact on a right axis, a "now"
// line, and tooltips on hover and keyboard focus. Everything drawn comes from the API's `chart` object;
// text goes in with textContent only.

const SVG = 'http://www.w3.org/2000/svg';
const DAY = 86_400_000;
const BAND_FILLS = ['#e3f4e8', '#fbf3d0', '#fde3cc', '#f9d6d3', '#f0cfe0'];
const BAND_INKS = ['#1e6b3a', '#7a5a00', '#9a4a0b', '#9b1c1c', '#86198f'];
const MARK_SHAPES = ['diamond', 'triangle', 'square', 'square'];
const MARK_COLOURS = ['#6d28d9', '#c2410c', '#0f766e', '#be185d'];
const SERIES_COLOUR = '#1d4f91';
const SECONDARY_COLOUR = '#0e7490';
const MUTED = '#6b7280';

/** Band colours by position: first band green … last band red, whatever their number. */
function bandColours(n) {
  const pick = { 1: [0], 2: [0, 3], 3: [0, 1, 3], 4: [0, 1, 2, 3] }[n];
  return Array.from({ length: n }, (_, i) => {
    const idx = pick ? pick[i] : Math.min(i, BAND_FILLS.length - 1);
    return { fill: BAND_FILLS[idx], ink: BAND_INKS[idx] };
  });
}

function svg(tag, attrs = {}, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function svgText(parent, x, y, content, attrs = {}) {
  const t = svg('text', { x, y, ...attrs }, parent);
  t.textContent = content;
  return t;
}

/** 1, 2, 2.5, 5 × 10^k: the step for about `target` intervals over `range`. */
function niceStep(range, target) {
  const raw = range / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

export function formatNumber(x) {
  if (x === 0) return '0';
  const abs = Math.abs(x);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return String(Number(x.toFixed(digits)));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function formatDate(t) {
  return new Date(t).toISOString().slice(0, 10);
}

export function formatDateTime(t) {
  const iso = new Date(t).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Time ticks (UTC): whole days, weeks, or months, at most `max` of them. */
function timeTicks(t0, t1, max) {
  const dayCandidates = [1, 2, 7, 14];
  for (const d of dayCandidates) {
    if ((t1 - t0) / (d * DAY) <= max) {
      const ticks = [];
      for (let t = Math.ceil(t0 / DAY) * DAY; t <= t1; t += d * DAY) {
        const dt = new Date(t);
        ticks.push({ t, label: `${dt.getUTCDate()} ${MONTHS[dt.getUTCMonth()]}` });
      }
      return ticks;
    }
  }
  for (const m of [1, 2, 3, 6, 12, 24, 60]) {
    const start = new Date(t0);
    let y = start.getUTCFullYear();
    let mo = start.getUTCMonth() + 1;
    if (m >= 12) {
      y += 1;
      mo = 0;
    } else {
      mo = Math.ceil(mo / m) * m;
    }
    const ticks = [];
    for (;;) {
      const t = Date.UTC(y, mo, 1);
      if (t > t1) break;
      if (t >= t0) {
        const dt = new Date(t);
        const month = dt.getUTCMonth();
        ticks.push({ t, label: m >= 12 ? String(dt.getUTCFullYear()) : month === 0 || ticks.length === 0 ? `${MONTHS[month]} ${dt.getUTCFullYear()}` : MONTHS[month] });
      }
      mo += m;
    }
    if (ticks.length <= max) return ticks;
  }
  return [];
}

/** How a band reads in the legend: "< 10", "10–20", "> 20". */
export function bandRange(bands, i) {
  const b = bands[i];
  const prev = bands[i - 1];
  if (b.from === null && b.to === null) return 'all values';
  if (b.from === null) return `${b.inclusive ? '≤' : '<'} ${formatNumber(b.to)}`;
  const lowOp = prev && prev.inclusive ? '>' : '≥';
  if (b.to === null) return `${lowOp} ${formatNumber(b.from)}`;
  return `${formatNumber(b.from)}–${formatNumber(b.to)}`;
}

function shape(parent, kind, size, attrs) {
  const s = size;
  switch (kind) {
    case 'diamond':
      return svg('path', { d: `M0,${-s * 1.3} L${s * 1.3},0 L0,${s * 1.3} L${-s * 1.3},0 Z`, ...attrs }, parent);
    case 'triangle':
      return svg('path', { d: `M0,${-s * 1.35} L${s * 1.25},${s} L${-s * 1.25},${s} Z`, ...attrs }, parent);
    case 'square':
      return svg('rect', { x: -s * 0.9, y: -s * 0.9, width: s * 1.8, height: s * 1.8, rx: 1.5, ...attrs }, parent);
    case 'cross':
      return svg('path', { d: `M${-s * 0.75},${-s * 0.75} L${s * 0.75},${s * 0.75} M${-s * 0.75},${s * 0.75} L${s * 0.75},${-s * 0.75}`, fill: 'none', 'stroke-linecap': 'round', ...attrs }, parent);
    default:
      return svg('circle', { r: s, ...attrs }, parent);
  }
}

/** The look of a series point: which shape and colours, from its flags. */
export function pointStyle(chart, p) {
  const excluded = p.flags.some((f) => f.startsWith('excluded'));
  if (excluded) return p.value === null ? { kind: 'cross', role: 'excluded-novalue' } : { kind: 'circle', role: 'excluded' };
  const i = chart.marks.findIndex((m) => p.flags.includes(m.flag));
  if (i >= 0) return { kind: MARK_SHAPES[i] ?? 'square', role: `mark-${i}`, colour: MARK_COLOURS[i] ?? MUTED };
  return { kind: 'circle', role: 'normal', colour: SERIES_COLOUR };
}

function drawMark(parent, style, size, secondary) {
  const colour = secondary ? SECONDARY_COLOUR : style.colour ?? MUTED;
  if (style.role === 'excluded-novalue') return shape(parent, 'cross', size, { stroke: MUTED, 'stroke-width': 2.2 });
  if (style.role === 'excluded') return shape(parent, secondary ? 'square' : 'circle', size, { fill: '#fff', 'fill-opacity': 0.85, stroke: secondary ? SECONDARY_COLOUR : '#4b5563', 'stroke-width': 1.8, 'stroke-dasharray': '3 2' });
  return shape(parent, secondary ? 'square' : style.kind, secondary ? size * 0.85 : size, { fill: colour, stroke: '#fff', 'stroke-width': 1.5 });
}

/** A small SVG of a mark for the legend. */
export function legendSwatch(kind, opts = {}) {
  const s = svg('svg', { width: 22, height: 16, viewBox: '-11 -8 22 16', 'aria-hidden': 'true', focusable: 'false' });
  if (kind === 'band') svg('rect', { x: -10, y: -7, width: 20, height: 14, rx: 2, fill: opts.fill, stroke: opts.ink, 'stroke-opacity': 0.35 }, s);
  else if (kind === 'line') svg('line', { x1: -10, y1: 0, x2: 10, y2: 0, stroke: opts.colour, 'stroke-width': 2, 'stroke-dasharray': opts.dash ?? null }, s);
  else if (kind === 'halo') {
    svg('circle', { r: 6.5, fill: 'none', stroke: SERIES_COLOUR, 'stroke-opacity': 0.4, 'stroke-width': 2 }, s);
    shape(s, 'circle', 3.5, { fill: SERIES_COLOUR, stroke: '#fff', 'stroke-width': 1 });
  } else drawMark(s, opts.style, 5, opts.secondary);
  return s;
}

function pointLabel(chart, p, secondary) {
  const axis = secondary ? chart.axes.secondary : chart.axes.series;
  const parts = [`${p.label ?? axis.label} ${p.reported ?? '(no value)'}`];
  if (p.t !== null) parts.push(formatDateTime(p.t));
  if (p.tier) parts.push(`tier ${p.tier}`);
  for (const f of p.flags) parts.push(f);
  return parts.join(', ');
}

/** Lines of the tooltip of a point. */
export function tooltipLines(chart, p, secondary) {
  const axis = secondary ? chart.axes.secondary : chart.axes.series;
  const lines = [{ strong: `${p.label ?? axis.label} ${p.reported ?? '(no value)'}` }];
  if (p.value !== null && p.reported !== null && !p.reported.startsWith(`${p.comparator ?? ''}${formatNumber(p.value)} ${axis.unit}`)) {
    lines.push({ text: `= ${p.comparator ?? ''}${formatNumber(p.value)} ${axis.unit}` });
  }
  if (p.t !== null) lines.push({ text: formatDateTime(p.t) });
  if (p.tier) lines.push({ text: `Tier: ${p.tier}` });
  for (const w of p.why) lines.push({ text: w.charAt(0).toUpperCase() + w.slice(1), tone: 'flag' });
  for (const f of p.flags) if (f.startsWith('excluded')) lines.push({ text: `Not used — ${f.slice('excluded: '.length)}`, tone: 'excluded' });
  if (p.usedBy.length > 0) lines.push({ text: `Cited by: ${p.usedBy.join(', ')}`, tone: 'cited' });
  lines.push({ text: p.ref, tone: 'ref' });
  return lines;
}

/**
 * Draws the chart into `container` (replacing what was there), sized to its width. Returns the number of
 * series points drawn. `tooltip` is the shared tooltip element.
 */
export function drawChart(container, chart, tooltip) {
  container.replaceChildren();
  const W = Math.max(520, Math.round(container.clientWidth || 900));
  const H = W < 700 ? 300 : 360;
  const m = { top: 22, right: chart.axes.secondary ? 64 : 24, bottom: 40, left: 62 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;

  const series = chart.series.filter((p) => p.t !== null);
  const secondary = chart.secondary.filter((p) => p.t !== null);
  const valued = series.filter((p) => p.value !== null);
  const valued2 = secondary.filter((p) => p.value !== null);

  // Time domain: every dated point and now, at least two weeks wide, padded.
  const times = [...series, ...secondary].map((p) => p.t).concat([chart.now]);
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t1 - t0 < 14 * DAY) {
    const mid = (t0 + t1) / 2;
    t0 = mid - 7 * DAY;
    t1 = mid + 7 * DAY;
  }
  const pad = (t1 - t0) * 0.045;
  t0 -= pad;
  t1 += pad;

  // Value domains from 0: room for every value and for the highest band edge.
  const edges = chart.bands.map((b) => b.to).filter((v) => v !== null);
  const hi = Math.max(0, ...valued.map((p) => p.value));
  const topEdge = edges.length > 0 ? Math.max(...edges) : 0;
  const rawMax = Math.max(hi * 1.12, topEdge * 1.3, 1);
  const yStep = niceStep(rawMax, 5);
  const yMax = Math.ceil(rawMax / yStep) * yStep;
  const hi2 = Math.max(0, ...valued2.map((p) => p.value));
  const rawMax2 = Math.max(hi2 * 1.15, 1);
  const yStep2 = niceStep(rawMax2, 5);
  const yMax2 = Math.ceil(rawMax2 / yStep2) * yStep2;

  const xs = (t) => m.left + ((t - t0) / (t1 - t0)) * plotW;
  const ys = (v) => m.top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  const ys2 = (v) => m.top + plotH - (Math.min(v, yMax2) / yMax2) * plotH;

  const root = svg('svg', {
    width: W,
    height: H,
    viewBox: `0 0 ${W} ${H}`,
    role: 'group',
    'aria-label': `${chart.title}: ${series.length} ${chart.axes.series.label} results${chart.axes.secondary ? `, ${secondary.length} ${chart.axes.secondary.label} results` : ''}`,
    class: 'chart-svg',
    'data-series-points': series.length,
  });
  container.appendChild(root);
  const defs = svg('defs', {}, root);
  const clip = svg('clipPath', { id: 'plot-clip' }, defs);
  svg('rect', { x: m.left, y: m.top, width: plotW, height: plotH }, clip);

  // Bands.
  const colours = bandColours(chart.bands.length);
  const bandLayer = svg('g', { class: 'bands', 'clip-path': 'url(#plot-clip)' }, root);
  chart.bands.forEach((b, i) => {
    const lo = Math.max(b.from ?? 0, 0);
    const up = Math.min(b.to ?? yMax, yMax);
    if (up <= lo) return;
    const yTop = ys(up);
    const yBottom = ys(lo);
    svg('rect', { x: m.left, y: yTop, width: plotW, height: yBottom - yTop, fill: colours[i].fill, class: 'band', 'data-band': b.name }, bandLayer);
    if (yBottom - yTop >= 15) svgText(bandLayer, m.left + plotW - 8, yTop + 13, b.name, { 'text-anchor': 'end', class: 'band-label', fill: colours[i].ink });
  });

  // Grid and left axis.
  const axis = svg('g', { class: 'axis' }, root);
  const edgeYs = edges.filter((e) => e > 0 && e < yMax).map((e) => ys(e));
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    const y = ys(v);
    svg('line', { x1: m.left, x2: m.left + plotW, y1: y, y2: y, class: 'grid' }, axis);
    if (!edgeYs.some((ey) => Math.abs(ey - y) < 14)) svgText(axis, m.left - 8, y + 4, formatNumber(v), { 'text-anchor': 'end', class: 'tick' });
  }
  chart.bands.forEach((b, i) => {
    if (b.to === null || b.to <= 0 || b.to >= yMax) return;
    const y = ys(b.to);
    const ink = colours[Math.min(i + 1, colours.length - 1)].ink;
    svg('line', { x1: m.left, x2: m.left + plotW, y1: y, y2: y, class: 'edge', stroke: ink }, axis);
    svgText(axis, m.left - 8, y + 4, formatNumber(b.to), { 'text-anchor': 'end', class: 'tick tick-edge', fill: ink });
  });
  svg('line', { x1: m.left, x2: m.left, y1: m.top, y2: m.top + plotH, class: 'axis-line' }, axis);
  const yTitle = svgText(axis, 0, 0, `${chart.axes.series.label} (${chart.axes.series.unit})`, { class: 'axis-title', 'text-anchor': 'middle', fill: SERIES_COLOUR });
  yTitle.setAttribute('transform', `translate(16 ${m.top + plotH / 2}) rotate(-90)`);

  // Right axis.
  if (chart.axes.secondary) {
    const x = m.left + plotW;
    svg('line', { x1: x, x2: x, y1: m.top, y2: m.top + plotH, class: 'axis-line', stroke: SECONDARY_COLOUR }, axis);
    for (let v = 0; v <= yMax2 + 1e-9; v += yStep2) {
      const y = ys2(v);
      svg('line', { x1: x, x2: x + 4, y1: y, y2: y, stroke: SECONDARY_COLOUR }, axis);
      svgText(axis, x + 8, y + 4, formatNumber(v), { class: 'tick', fill: SECONDARY_COLOUR });
    }
    const t = svgText(axis, 0, 0, `${chart.axes.secondary.label} (${chart.axes.secondary.unit})`, { class: 'axis-title', 'text-anchor': 'middle', fill: SECONDARY_COLOUR });
    t.setAttribute('transform', `translate(${W - 12} ${m.top + plotH / 2}) rotate(90)`);
  }

  // Time axis.
  const base = m.top + plotH;
  svg('line', { x1: m.left, x2: m.left + plotW, y1: base, y2: base, class: 'axis-line' }, axis);
  for (const tick of timeTicks(t0, t1, Math.max(3, Math.floor(plotW / 86)))) {
    const x = xs(tick.t);
    svg('line', { x1: x, x2: x, y1: base, y2: base + 5, class: 'axis-line' }, axis);
    svgText(axis, x, base + 19, tick.label, { 'text-anchor': 'middle', class: 'tick' });
  }

  // Now.
  const xn = xs(chart.now);
  svg('line', { x1: xn, x2: xn, y1: m.top, y2: base, class: 'now-line' }, root);
  svgText(root, xn, m.top - 7, 'now', { class: 'now-label', 'text-anchor': 'middle' });

  // Lines through the unflagged values only: a confounded spike or an excluded value is not part of the course.
  const line = (pts, scale, attrs) => {
    const used = pts.filter((p) => p.value !== null && p.flags.length === 0).sort((a, b) => a.t - b.t);
    if (used.length < 2) return;
    svg('path', { d: used.map((p, i) => `${i ? 'L' : 'M'}${xs(p.t).toFixed(1)},${scale(p.value).toFixed(1)}`).join(' '), fill: 'none', ...attrs }, root);
  };
  if (chart.axes.secondary) line(secondary, ys2, { stroke: SECONDARY_COLOUR, 'stroke-width': 1.5, 'stroke-dasharray': '5 4', 'stroke-opacity': 0.7, class: 'line-secondary' });
  line(series, ys, { stroke: SERIES_COLOUR, 'stroke-width': 2, 'stroke-opacity': 0.45, 'stroke-linejoin': 'round', class: 'line-series' });

  // Points: secondary first, so the series is drawn on top.
  const points = svg('g', { class: 'points' }, root);
  const place = (p, isSecondary) => {
    const style = isSecondary
      ? { kind: 'square', role: p.flags.some((f) => f.startsWith('excluded')) ? (p.value === null ? 'excluded-novalue' : 'excluded') : 'normal' }
      : pointStyle(chart, p);
    const x = xs(p.t);
    const y = p.value === null ? base - 8 : isSecondary ? ys2(p.value) : ys(p.value);
    const flagClasses = p.flags.map((f) => (f.startsWith('excluded') ? 'excluded' : `flag-${f}`));
    const g = svg('g', {
      class: ['pt', isSecondary ? 'pt-secondary' : 'pt-series', `style-${style.role}`, ...flagClasses].join(' '),
      transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
      tabindex: 0,
      role: 'img',
      'aria-label': pointLabel(chart, p, isSecondary),
      'data-ref': p.ref,
      'data-flags': p.flags.map((f) => (f.startsWith('excluded') ? 'excluded' : f)).join(' '),
    }, points);
    svg('circle', { r: 12, fill: 'transparent', class: 'hit' }, g);
    if (!isSecondary && p.usedBy.length > 0 && style.role !== 'excluded' && style.role !== 'excluded-novalue') {
      svg('circle', { r: 10, fill: 'none', stroke: style.colour ?? SERIES_COLOUR, 'stroke-opacity': 0.35, 'stroke-width': 2.5, class: 'halo' }, g);
    }
    drawMark(g, style, 6, isSecondary);
    if (p.comparator && p.value !== null) {
      const up = p.comparator.startsWith('>');
      const d = up ? 'M0,-9 L0,-17 M-3.5,-13.5 L0,-17 L3.5,-13.5' : 'M0,9 L0,17 M-3.5,13.5 L0,17 L3.5,13.5';
      svg('path', { d, fill: 'none', stroke: isSecondary ? SECONDARY_COLOUR : style.colour ?? MUTED, 'stroke-width': 1.6, 'stroke-linecap': 'round', class: 'comparator' }, g);
    }
    const show = () => showTooltip(tooltip, g, tooltipLines(chart, p, isSecondary));
    g.addEventListener('pointerenter', show);
    g.addEventListener('focus', show);
    g.addEventListener('pointerleave', () => hideTooltip(tooltip));
    g.addEventListener('blur', () => hideTooltip(tooltip));
  };
  for (const p of secondary) place(p, true);
  for (const p of [...series].sort((a, b) => (a.flags.length > 0 ? 0 : 1) - (b.flags.length > 0 ? 0 : 1))) place(p, false);
  return series.length;
}

function showTooltip(tooltip, anchor, lines) {
  if (!tooltip) return;
  tooltip.replaceChildren();
  for (const l of lines) {
    const div = document.createElement('div');
    if (l.strong) {
      div.className = 'tt-title';
      div.textContent = l.strong;
    } else {
      div.className = `tt-line${l.tone ? ` tt-${l.tone}` : ''}`;
      div.textContent = l.text;
    }
    tooltip.appendChild(div);
  }
  tooltip.hidden = false;
  const r = anchor.getBoundingClientRect();
  const tw = tooltip.offsetWidth;
  const th = tooltip.offsetHeight;
  let left = r.left + r.width / 2 - tw / 2;
  left = Math.max(8, Math.min(left, window.innerWidth - tw - 8));
  let top = r.top - th - 10;
  if (top < 8) top = r.bottom + 10;
  tooltip.style.left = `${Math.round(left + window.scrollX)}px`;
  tooltip.style.top = `${Math.round(top + window.scrollY)}px`;
}

function hideTooltip(tooltip) {
  if (tooltip) tooltip.hidden = true;
}

export { bandColours, SERIES_COLOUR, SECONDARY_COLOUR, MARK_SHAPES, MARK_COLOURS };
