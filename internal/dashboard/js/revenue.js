// Revenue (api/v1/revenue): recurring revenue by stage (each paying user's
// latest charge), the revenue at risk, and failed payments paid later.

import { el, table, num, count, amounts, activate } from './dom.js';
import { get } from './api.js';
import { open } from './panel.js';
import { stageView } from './views.js';

// tile is one figure of the card: users and amounts by currency.
function tile(key, title, r, note) {
  return el('div', { class: 'tile', 'data-tile': key },
    el('div', { class: 'tile-title' }, title),
    el('div', { class: 'tile-amount', 'data-measure': 'amount' }, amounts(r.amount)),
    el('div', {}, el('b', { 'data-measure': 'users' }, count(r.users)), ' ', note));
}

// total adds the stages' revenue, by currency, to the cent.
function total(byStage) {
  const out = { users: 0, amount: {} };
  for (const s of byStage) {
    out.users += s.users;
    for (const [c, a] of Object.entries(s.amount || {})) out.amount[c] = Math.round(((out.amount[c] || 0) + a) * 100) / 100;
  }
  return out;
}

// loadRevenue fills the Revenue card.
export async function loadRevenue(card) {
  const heading = card.querySelector('h2');
  try {
    const r = await get('revenue');
    const rows = r.byStage.map((s) => {
      const tr = el('tr', { 'data-stage': s.stage }, el('td', {}, s.stage), num(count(s.users), { 'data-measure': 'users' }),
        num(amounts(s.amount), { 'data-measure': 'amount' }));
      activate(tr, `Stage ${s.stage}: its users`, () => open(stageView(s.stage), tr));
      return tr;
    });
    card.replaceChildren(heading,
      el('div', { class: 'tiles' },
        tile('recurring', 'Recurring revenue', total(r.byStage), 'paying users, at their latest charge'),
        tile('at-risk', 'Revenue at risk', r.atRisk, `users in ${r.atRiskStage || 'the stage before the last'} or with an alert firing`),
        tile('recovered', 'Failed payments recovered', r.recovered, 'users paid after a failed payment')),
      r.byStage.length
        ? table({ class: 'by-stage' }, ['Stage', '#Paying users', '#Recurring revenue'], rows)
        : el('p', { class: 'empty' }, 'No paying users.'));
    card.dataset.state = 'ready';
  } catch (e) {
    card.replaceChildren(heading, el('p', { class: 'problem', role: 'alert' }, e.message));
    card.dataset.state = 'error';
  }
}
