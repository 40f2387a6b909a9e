// Building the page's elements, and formatting numbers as the server-drawn
// page does. Every piece of data becomes a text node: user IDs, segment
// values and event attributes come from customers' systems and are never
// parsed as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// el makes an HTML element. attrs sets attributes (class, data-*, aria-*;
// false, null and undefined leave one out); children are nodes or text.
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

// svg makes an SVG element, as el does.
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// table makes a table: head is the column titles (a title starting with
// '#' is a number, aligned right); rows are arrays of cells or <tr>s.
export function table(attrs, head, rows) {
  const th = head.map((h) => (h.startsWith('#') ? el('th', { scope: 'col', class: 'n' }, h.slice(1)) : el('th', { scope: 'col' }, h)));
  return el('table', attrs, el('thead', {}, el('tr', {}, th)),
    el('tbody', {}, rows.map((r) => (r instanceof Node ? r : el('tr', {}, r.map((c) => (c instanceof Node && c.localName === 'td' ? c : el('td', {}, c))))))));
}

// num is a right-aligned number cell.
export function num(text, attrs) {
  return el('td', { class: 'n', ...attrs }, text);
}

// facts makes a row of labelled figures: [label, value, key] with key the
// data-measure a test or a reader can find the figure by.
export function facts(items) {
  return el('dl', { class: 'drill-facts' },
    items.filter(Boolean).map(([label, value, key]) => el('div', {}, el('dt', {}, label), el('dd', { 'data-measure': key }, value))));
}

// bar is a small share bar, as the static page's .mini.
export function bar(share) {
  const inner = el('span');
  inner.style.width = `${Math.round(100 * clamp01(share) * 10) / 10}%`;
  return el('span', { class: 'mini', 'aria-hidden': 'true' }, inner);
}

export function clamp01(f) {
  return Number.isFinite(f) ? Math.min(Math.max(f, 0), 1) : 0;
}

const counts = new Intl.NumberFormat('en-US');

// count formats a count with thousands separators: 48211 → "48,211".
export function count(n) {
  return Number.isFinite(n) ? counts.format(n) : '—';
}

// percent formats a 0..1 share as "12.8%".
export function percent(f) {
  return Number.isFinite(f) ? `${(f * 100).toFixed(1)}%` : '—';
}

// when formats an instant in UTC, as the page's header does:
// "2026-10-31 00:00 UTC"; the zero time is "never".
export function when(iso) {
  const t = iso ? new Date(iso) : null;
  if (!t || Number.isNaN(t.getTime()) || t.getUTCFullYear() <= 1) return 'never';
  const s = t.toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 16)} UTC`;
}

// day formats an instant's date: "2026-10-31".
export function day(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 10) : '';
}

// duration formats seconds as the funnel's median does: "4d 6h",
// "3h 20m", "45m", "12s"; zero is a dash.
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return m ? `${h}h ${m}m` : `${h}h`;
  }
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  return h ? `${d}d ${h}h` : `${d}d`;
}

// money formats an amount in a currency: "$15.99", or "15.99 xyz" for a
// code the browser does not know.
export function money(amount, currency) {
  const code = (currency || '').toUpperCase();
  try {
    if (code) return new Intl.NumberFormat('en-US', { style: 'currency', currency: code }).format(amount);
  } catch {
    // not an ISO 4217 code: written out below
  }
  return `${amount.toFixed(2)}${currency ? ` ${currency}` : ''}`;
}

// amounts formats amounts by currency, largest first: "$1,284.20 · €373.70".
export function amounts(byCurrency) {
  const entries = Object.entries(byCurrency || {}).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([c, a]) => money(a, c)).join(' · ') : '—';
}

// breakable lets a long identifier wrap after its separators
// ("price_standard_monthly_usd") rather than anywhere: text and <wbr>s.
export function breakable(text) {
  return String(text).split(/(?<=[_./@,-])/).flatMap((part, i) => (i ? [document.createElement('wbr'), part] : [part]));
}

// valueText names a segment value; users without one have "(none)".
export function valueText(v) {
  return v === '' || v === undefined || v === null ? '(none)' : v;
}

// activate makes an element act as a button: focusable, and Enter or
// Space does what a click does.
export function activate(node, label, action) {
  if (label) node.setAttribute('aria-label', label);
  node.classList.add('clickable');
  node.addEventListener('click', (e) => {
    e.preventDefault();
    action(node);
  });
  if (node.localName === 'button') return; // a button does the rest itself
  node.tabIndex = 0;
  node.setAttribute('role', 'button');
  node.addEventListener('keydown', (e) => {
    if (e.target === node && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      action(node);
    }
  });
}
