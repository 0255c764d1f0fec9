// CDS Hooks cards as an EHR shows them: indicator colour bar, summary, source, the Markdown detail (rendered
// safely), suggestion buttons that reveal the draft resources they would create, and a dismiss menu with the
// card's override reasons. Text goes in with textContent or the safe Markdown renderer, never innerHTML.

import { renderMarkdown } from './markdown.js';

const INDICATOR_NAMES = { info: 'Info', warning: 'Warning', critical: 'Critical' };

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || ['id', 'type', 'role', 'title', 'tabindex', 'for', 'hidden'].includes(k)) e.setAttribute(k, v === true ? '' : String(v));
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** Renders `cards` into `container`. */
export function renderCards(container, cards) {
  container.replaceChildren();
  if (cards.length === 0) {
    container.append(h('p', { class: 'no-cards', text: 'No cards: the service had nothing to say about this patient.' }));
    return;
  }
  cards.forEach((card, i) => container.append(renderCard(card, i)));
}

function renderCard(card, i) {
  const id = `card-${i}`;
  const indicator = INDICATOR_NAMES[card.indicator] ? card.indicator : 'info';
  const topic = card.source?.topic;
  const article = h('article', {
    class: `card indicator-${indicator}`,
    'data-topic': topic?.code ?? '',
    'data-indicator': indicator,
    'aria-labelledby': `${id}-summary`,
  });

  const head = h(
    'div',
    { class: 'card-head' },
    h('span', { class: 'indicator-chip', text: INDICATOR_NAMES[indicator] }),
    h('span', { class: 'card-source', text: card.source?.label ?? '' }),
  );
  const summary = h('h3', { class: 'card-summary', id: `${id}-summary`, text: card.summary });
  const body = h('div', { class: 'card-body' }, head, summary);

  if (card.detail) {
    const detail = h('div', { class: 'card-detail md' });
    detail.append(renderMarkdown(card.detail));
    body.append(detail);
  }

  const suggestions = card.suggestions ?? [];
  if (suggestions.length > 0) {
    const panel = h('div', { class: 'suggestion-panel', id: `${id}-suggestion`, hidden: true, role: 'region', 'aria-label': 'Suggestion detail' });
    const group = h('div', { class: 'card-suggestions', role: 'group', 'aria-label': 'Suggestions' });
    const buttons = suggestions.map((s, k) => {
      const b = h('button', { type: 'button', class: `btn-suggestion${s.isRecommended ? ' recommended' : ''}`, 'aria-expanded': 'false', 'aria-controls': panel.id, 'data-suggestion': k }, s.label);
      if (s.isRecommended) b.append(h('span', { class: 'recommended-mark', text: ' · recommended' }));
      b.addEventListener('click', () => {
        const open = b.getAttribute('aria-expanded') === 'true';
        for (const other of buttons) other.setAttribute('aria-expanded', 'false');
        if (open) {
          panel.hidden = true;
          return;
        }
        b.setAttribute('aria-expanded', 'true');
        showSuggestion(panel, s, card.selectionBehavior);
      });
      return b;
    });
    group.append(...buttons);
    body.append(group, panel);
  }

  const footer = h('div', { class: 'card-footer' });
  if (topic) footer.append(h('span', { class: 'card-topic', title: topic.system ?? '', text: `${topic.code}${topic.display ? ` — ${topic.display}` : ''}` }));
  const reasons = card.overrideReasons ?? [];
  footer.append(dismissMenu(article, reasons, id));
  body.append(footer);

  const dismissed = h('div', { class: 'card-dismissed', hidden: true });
  article.append(h('div', { class: 'card-bar', 'aria-hidden': 'true' }), body, dismissed);
  return article;
}

function showSuggestion(panel, s, selectionBehavior) {
  panel.replaceChildren();
  panel.append(h('p', { class: 'suggestion-title' }, h('strong', { text: s.label }), selectionBehavior ? ` (selection: ${selectionBehavior})` : ''));
  const actions = s.actions ?? [];
  if (actions.length === 0) panel.append(h('p', { class: 'muted', text: 'This suggestion has no actions.' }));
  for (const a of actions) {
    panel.append(h('p', { class: 'action-description' }, h('span', { class: 'action-type', text: a.type }), ` ${a.description ?? ''}`));
    if (a.resource) panel.append(h('pre', { class: 'json', tabindex: 0, 'aria-label': `${a.resource.resourceType ?? 'Resource'} JSON` }, h('code', { text: JSON.stringify(a.resource, null, 2) })));
  }
  panel.append(h('p', { class: 'muted small', text: 'Preview only: nothing is created or sent.' }));
  panel.hidden = false;
}

function dismissMenu(article, reasons, id) {
  const details = h('details', { class: 'dismiss' });
  const summary = h('summary', { class: 'btn-dismiss', text: 'Dismiss' });
  const menu = h('div', { class: 'dismiss-menu', role: 'menu', 'aria-label': 'Reason for dismissing' });
  const choose = (reason) => {
    details.open = false;
    const box = article.querySelector('.card-dismissed');
    box.replaceChildren(
      h('span', { text: `Dismissed${reason ? `: ${reason.display}` : ''}` }),
      h('span', { class: 'muted small', text: ' — preview only, no feedback sent. ' }),
    );
    const undo = h('button', { type: 'button', class: 'btn-link', text: 'Undo' });
    undo.addEventListener('click', () => {
      article.classList.remove('dismissed');
      box.hidden = true;
      article.querySelector('.card-body').hidden = false;
      article.querySelector('.btn-dismiss').focus();
    });
    box.append(undo);
    article.classList.add('dismissed');
    article.querySelector('.card-body').hidden = true;
    box.hidden = false;
    undo.focus();
  };
  if (reasons.length === 0) {
    const b = h('button', { type: 'button', role: 'menuitem', class: 'menu-item', text: 'Dismiss' });
    b.addEventListener('click', () => choose(null));
    menu.append(b);
  }
  reasons.forEach((r, k) => {
    const b = h('button', { type: 'button', role: 'menuitem', class: 'menu-item', id: `${id}-reason-${k}`, title: `${r.system ?? ''}|${r.code ?? ''}`, text: r.display ?? r.code });
    b.addEventListener('click', () => choose(r));
    menu.append(b);
  });
  // Menu keys: the first reason gets focus on opening, arrows move, Escape closes.
  details.addEventListener('toggle', () => {
    if (details.open) menu.querySelector('.menu-item')?.focus();
  });
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && details.open) {
      details.open = false;
      summary.focus();
      return;
    }
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const items = [...menu.querySelectorAll('.menu-item')];
    if (items.length === 0) return;
    e.preventDefault();
    const at = items.indexOf(document.activeElement);
    const next = e.key === 'ArrowDown' ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
    items[next].focus();
  });
  details.append(summary, menu);
  return details;
}
