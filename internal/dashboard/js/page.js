// The journey map page, served live: what the server drew becomes
// clickable (stages, ribbons, funnel steps, alerts, sources), the segment
// filter reloads the page for the chosen users, and the trends, revenue
// and KPI cards load from the drill-down API.

import { el, count, activate } from './dom.js';
import { get, applied } from './api.js';
import { open, isOpen } from './panel.js';
import { stageView, flowView, alertView, sourceView } from './views.js';
import { loadTrends } from './trends.js';
import { loadRevenue } from './revenue.js';
import { loadKPIs } from './kpis.js';

function wireMap() {
  const stage = (node, name) => activate(node, `Stage ${name}: its users`, () => open(stageView(name), node));
  const flow = (node, from, to) => activate(node, `${from} to ${to}: who went on and who dropped off`, () => open(flowView(from, to), node));

  for (const g of document.querySelectorAll('.sankey .node[data-stage]')) stage(g, g.dataset.stage);
  for (const p of document.querySelectorAll('.sankey path.link[data-to]')) {
    // An entry ribbon (no from) is the users who started in its stage.
    if (p.dataset.from) flow(p, p.dataset.from, p.dataset.to);
    else stage(p, p.dataset.to);
  }
  for (const d of document.querySelectorAll('.stage-notes > div')) stage(d, d.querySelector('dt').textContent.trim());
  for (const tr of document.querySelectorAll('tr[data-risk-stage]')) stage(tr, tr.dataset.riskStage);
  for (const li of document.querySelectorAll('li.step[data-step]')) {
    // Stage names are DNS labels: the arrow cannot be part of one.
    const [from, to] = li.dataset.step.split('→');
    flow(li, from, to);
  }
  for (const li of document.querySelectorAll('li.alert[data-alert]')) {
    activate(li, `Alert ${li.dataset.alert}: the users it fires for`, () => open(alertView(li.dataset.alert), li));
  }
  for (const tr of document.querySelectorAll('tr[data-source]')) {
    activate(tr, `Source ${tr.dataset.source}: what it holds for review`, () => open(sourceView(tr.dataset.source), tr));
  }
}

// fillChoices lists a filter's values, most users first, from a journey
// filtered by the other filters: the values left to choose from.
function fillChoices(select, journey) {
  const b = (journey.breakdown || []).find((x) => x.segment === select.dataset.segment);
  const values = (b ? b.values : []).filter((v) => v.value !== ''); // users without one cannot be chosen
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'all'),
    ...values.map((v) => el('option', { value: v.value }, `${v.value} (${count(v.users)})`)));
  if (chosen && !values.some((v) => v.value === chosen)) select.append(el('option', { value: chosen }, chosen));
  select.value = chosen;
  select.dataset.ready = 'true';
}

function wireFilters() {
  const selects = [...document.querySelectorAll('.filters select[data-segment]')];
  const journeys = new Map(); // by the filter left out: one request each
  for (const s of selects) {
    const name = s.dataset.segment;
    const except = applied.some(([n]) => n === name) ? name : null;
    if (!journeys.has(except)) journeys.set(except, get('journey', {}, except));
    journeys.get(except).then((j) => fillChoices(s, j), (e) => {
      s.dataset.ready = 'false';
      s.title = `The values could not be read: ${e.message}`;
    });
    s.addEventListener('change', () => {
      const q = new URLSearchParams(location.search);
      q.delete('segment');
      for (const f of selects) {
        if (f.value !== '') q.append('segment', `${f.dataset.segment}=${f.value}`);
      }
      const qs = q.toString();
      location.assign(qs ? `?${qs}` : './');
    });
  }
}

// markUnfiltered says, on a filtered page, which cards stay the whole
// journey's: the API filters users, not sources, surveys or the model.
function markUnfiltered() {
  if (!applied.length) return;
  const note = (text) => el('p', { class: 'note unfiltered' }, text);
  for (const sel of ['.feedback', '.prediction', '.sources']) {
    const card = document.querySelector(`section.card${sel}`);
    if (card) card.querySelector('h2').after(note('Every user: the segment filter does not apply to this card.'));
  }
  const alerts = document.querySelector('section.card.alerts h2');
  if (alerts) alerts.after(note('User-scoped alerts count the filtered users; Journey-scoped ones the whole journey.'));
}

// reloadWhenIdle reloads the page for the latest evaluation after a while
// without input, unless a panel is open: what the static page's refresh
// does, without closing what someone is reading.
function reloadWhenIdle() {
  const seconds = Number(document.querySelector('meta[name=journey-idle-reload]')?.content);
  if (!(seconds > 0)) return;
  let last = Date.now();
  for (const type of ['pointerdown', 'pointermove', 'keydown', 'wheel']) {
    addEventListener(type, () => { last = Date.now(); }, { capture: true, passive: true });
  }
  setInterval(() => {
    if (!isOpen() && !document.hidden && Date.now() - last >= seconds * 1000) location.reload();
  }, 5000);
}

wireMap();
wireFilters();
markUnfiltered();
loadTrends(document.getElementById('trends'));
loadRevenue(document.getElementById('revenue'));
loadKPIs(document.getElementById('kpis'));
reloadWhenIdle();
