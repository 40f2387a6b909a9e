// KPIs (api/v1/kpis, drill.KPIView), when the server has them: data
// discrepancies by source and check, how fast alerts and reviews are
// resolved, survey response rates, and conversion by weekly cohort and
// renewal week by week. A server without the endpoint leaves the card
// hidden.

import { el, table, num, facts, count, percent, duration, day, activate } from './dom.js';
import { get, APIError } from './api.js';
import { open } from './panel.js';
import { sourceView } from './views.js';

function resolution(r) {
  const alerts = r.alerts; // only an evaluator that saw alerts resolve measures them
  const reviews = r.reviews || {};
  return facts([
    alerts && ['Alerts resolved', count(alerts.resolved), 'alerts-resolved'],
    alerts && ['Median time firing', duration(alerts.medianSeconds), 'alerts-median'],
    ['Records reviewed', count(reviews.reviewed), 'reviews-done'],
    ['Median wait for review', duration(reviews.medianSeconds), 'reviews-median'],
    ['Awaiting review', count(reviews.pending), 'reviews-pending'],
    ['Oldest waiting', duration(reviews.oldestPendingSeconds), 'reviews-oldest'],
  ]);
}

function discrepancies(list) {
  return table({ class: 'discrepancies' }, ['Source', 'Check', '#Found', '#Pending', '#Released', '#Discarded'],
    list.map((d) => {
      const tr = el('tr', { 'data-source': d.source, 'data-check': d.check }, el('td', {}, d.source), el('td', {}, el('code', {}, d.check)),
        num(count(d.found)), num(count(d.pending)), num(count(d.released)), num(count(d.discarded)));
      activate(tr, `Source ${d.source}: what it holds for review`, () => open(sourceView(d.source), tr));
      return tr;
    }));
}

function surveys(list) {
  return table({ class: 'kpi-surveys' }, ['Survey', 'After', '#Sent', '#Responses', '#Response rate'],
    list.map((s) => el('tr', { 'data-survey': s.trigger }, el('td', {}, s.trigger), el('td', {}, s.stage),
      num(count(s.sent)), num(count(s.responses)), num(percent(s.rate)))));
}

// weekly is each weekly cohort's conversion at every funnel step, and the
// share of the week's paying customers still customers at its end. A
// cohort whose conversion window has not ended yet is greyed.
function weekly(k) {
  const steps = k.conversion || [];
  const renewal = k.renewal || {};
  const head = ['Week', ...steps.map((c) => `#${c.from} → ${c.to}`), '#Renewal'];
  return table({ class: 'kpi-weeks' }, head, (k.weeks || []).map((w, i) => el('tr', { 'data-week': day(w) },
    el('td', {}, day(w)),
    steps.map((c) => {
      const entered = (c.entered || [])[i] || 0;
      const done = (c.complete || [])[i] !== false;
      return num(entered ? percent(c.rate[i]) : '—', {
        class: done ? 'n' : 'n incomplete', 'data-step': `${c.from}→${c.to}`,
        title: `${count(entered)} entered ${c.from}${done ? '' : '; their conversion window has not ended'}`,
      });
    }),
    num((renewal.paying || [])[i] ? percent(renewal.rate[i]) : '—', {
      'data-measure': 'renewal', title: `${count((renewal.paying || [])[i] || 0)} paying at the week's start, ${count((renewal.churned || [])[i] || 0)} churned in it`,
    }))));
}

// loadKPIs fills and shows the KPIs card when the API answers.
export async function loadKPIs(card) {
  let k;
  try {
    k = await get('kpis');
  } catch (e) {
    if (e instanceof APIError && (e.status === 404 || e.status === 405)) return; // not served here
    card.append(el('p', { class: 'problem', role: 'alert' }, e.message));
    card.hidden = false;
    card.dataset.state = 'error';
    return;
  }
  const found = k.discrepancies || [];
  const asked = k.surveys || [];
  card.append(
    el('h3', {}, 'Resolution'), resolution(k.resolution || {}),
    el('h3', {}, 'Data discrepancies'),
    found.length ? discrepancies(found) : el('p', { class: 'empty' }, 'None found.'),
    el('h3', {}, 'Surveys'),
    asked.length ? surveys(asked) : el('p', { class: 'empty' }, 'No surveys.'),
    el('h3', {}, 'Conversion by weekly cohort, and renewal'),
    el('p', { class: 'hint' }, 'Of the users who entered a stage in a week, the share who entered the next within the conversion window (grey: the window has not ended); renewal: of the week’s paying customers, the share still customers at its end.'),
    (k.weeks || []).length ? el('div', { class: 'scroll' }, weekly(k)) : el('p', { class: 'empty' }, 'No weeks yet.'));
  card.hidden = false;
  card.dataset.state = 'ready';
}
