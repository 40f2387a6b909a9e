// The pieces the panels share: lists of users, whose rows open the user's
// timeline, their pager, counts by segment, and an alert's helper-call
// values.

import { el, table, num, bar, count, percent, when, valueText, breakable, activate } from './dom.js';
import { segments } from './api.js';
import { open } from './panel.js';
import { userView } from './user.js';

// PAGE is how many users a panel lists at a time.
export const PAGE = 25;

// section is a titled part of a panel.
export function section(heading, ...content) {
  return el('section', { class: 'drill-section' }, el('h3', {}, heading), ...content);
}

// userButton opens a user's timeline.
export function userButton(id) {
  const b = el('button', { type: 'button', class: 'user-link', 'data-user': id }, id);
  activate(b, null, () => open(userView(id), b));
  return b;
}

// segmentChips shows a user's segment values in the map's order.
export function segmentChips(values) {
  const names = [...segments, ...Object.keys(values || {}).filter((k) => !segments.includes(k))];
  return el('span', { class: 'segs' },
    names.filter((n) => values && values[n] !== undefined).map((n) => el('span', { class: 'seg', title: n, 'data-segment': n }, breakable(values[n]))));
}

// riskText is a churn risk, or a dash when the model did not score the
// user.
export function riskText(risk) {
  return risk === undefined || risk === null ? '—' : percent(risk);
}

// userTable lists users (drill.UserRow); a click anywhere on a row opens
// the user's timeline.
export function userTable(users, { stage = true } = {}) {
  const rows = users.map((u) => {
    const b = userButton(u.id);
    const tr = el('tr', { 'data-user': u.id },
      el('td', {}, b),
      stage && el('td', {}, u.stage),
      el('td', {}, when(u.enteredAt)),
      num(riskText(u.risk)),
      el('td', {}, segmentChips(u.segments)));
    tr.addEventListener('click', (e) => {
      if (!e.target.closest('button')) b.click();
    });
    return tr;
  });
  const head = ['User', stage && 'Stage', 'Entered stage', '#Churn risk', 'Segments'].filter(Boolean);
  return table({ class: 'users' }, head, rows);
}

// pager moves through a drill.Page; go(offset) shows another page.
export function pager(page, go) {
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.users.length;
  const button = (label, which, offset, disabled) => {
    const b = el('button', { type: 'button', 'data-page': which, disabled }, label);
    if (!disabled) activate(b, null, () => go(offset));
    return b;
  };
  return el('div', { class: 'pager', 'data-offset': page.offset, 'data-total': page.total },
    button('← Previous', 'previous', Math.max(0, page.offset - PAGE), page.offset === 0),
    el('span', { class: 'page-info' }, page.total ? `${count(first)}–${count(last)} of ${count(page.total)}` : 'no users'),
    button('Next →', 'next', page.offset + PAGE, last >= page.total));
}

// breakdowns counts users by every segment (drill.Breakdown), largest
// first, each against total.
export function breakdowns(list, total) {
  return el('div', { class: 'breakdowns' }, (list || []).map((b) => table({ class: 'breakdown', 'data-segment': b.segment },
    [b.segment, '#Users', 'Share'],
    (b.values || []).map((v) => el('tr', { 'data-value': v.value },
      el('td', {}, breakable(valueText(v.value))), num(count(v.users)), el('td', {}, bar(total ? v.users / total : 0)))))));
}

// flowBreakdowns counts a flow's users by every segment
// (drill.FlowBreakdown): converted, dropped off, and the rate.
export function flowBreakdowns(list) {
  return el('div', { class: 'breakdowns flow' }, (list || []).map((b) => table({ class: 'breakdown', 'data-segment': b.segment },
    [b.segment, '#Converted', '#Dropped', '#Rate'],
    (b.values || []).map((v) => {
      const n = v.converted + v.dropped;
      return el('tr', { 'data-value': v.value },
        el('td', {}, breakable(valueText(v.value))), num(count(v.converted), { 'data-measure': 'converted' }),
        num(count(v.dropped), { 'data-measure': 'dropped' }), num(percent(n ? v.converted / n : NaN)));
    }))));
}

// callValue formats what a helper call answered: counts as counts, sums
// to two decimals.
export function callValue(v) {
  return Number.isInteger(v) ? count(v) : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

// callValues lists an alert's helper calls and what each answered for a
// user (journey.CallValue): why the alert fires for them.
export function callValues(values) {
  return el('table', { class: 'values' }, el('tbody', {}, (values || []).map((v) => el('tr', { 'data-call': v.call },
    el('td', {}, el('code', {}, v.call)), num(callValue(v.value), { 'data-value': v.value })))));
}
