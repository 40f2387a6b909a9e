// The journey week by week (api/v1/trends): how many users each stage held
// at the end of each week, drawn as lines, and what share of each weekly
// cohort went on to reach each stage.

import { el, svg, table, num, count, percent, day } from './dom.js';
import { get } from './api.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FALLBACK = ['#4e79a7', '#f28e2b', '#59a14f', '#3f9c96', '#d4a62a', '#b07aa1', '#9c755f', '#e377c2', '#7f7f7f'];

// Chart geometry, in SVG units; the SVG scales to the card.
const W = 1200, H = 230, LEFT = 52, RIGHT = 16, TOP = 10, BOTTOM = 26;

// stageColor is the stage's colour in the flow, so that a line reads as
// its node.
function stageColor(stage, i) {
  for (const r of document.querySelectorAll('.sankey .node rect.through')) {
    if (r.parentNode.dataset.stage === stage) return r.getAttribute('fill');
  }
  return FALLBACK[i % FALLBACK.length];
}

function weekLabel(iso) {
  const t = new Date(iso);
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}`;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function chart(t) {
  const n = t.weeks.length;
  const top = niceMax(Math.max(1, ...t.stages.flatMap((s) => s.users)));
  const x = (i) => LEFT + (n > 1 ? (i * (W - LEFT - RIGHT)) / (n - 1) : (W - LEFT - RIGHT) / 2);
  const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - v / top);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => svg('g', { class: 'tick' },
    svg('line', { x1: LEFT, x2: W - RIGHT, y1: y(f * top), y2: y(f * top) }),
    svg('text', { x: LEFT - 6, y: y(f * top) + 4, 'text-anchor': 'end' }, count(f * top))));
  const every = Math.ceil(n / 13);
  const labels = t.weeks.map((w, i) => (i % every === 0 || i === n - 1) && svg('text', { class: 'week', x: x(i), y: H - 8, 'text-anchor': 'middle' }, weekLabel(w)));
  const lines = t.stages.map((s, j) => {
    const color = stageColor(s.stage, j);
    return svg('g', { class: 'series', 'data-stage': s.stage },
      svg('polyline', { points: s.users.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '), stroke: color }),
      s.users.map((v, i) => svg('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: color },
        svg('title', {}, `${s.stage}, week of ${day(t.weeks[i])}: ${count(v)} users`))));
  });
  return svg('svg', { class: 'trend', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Users in each stage at the end of each week' },
    grid, labels, lines);
}

function legend(t) {
  const last = t.weeks.length - 1;
  return el('ul', { class: 'trend-legend' }, t.stages.map((s, j) => {
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = stageColor(s.stage, j);
    return el('li', { 'data-stage': s.stage }, swatch, el('span', {}, s.stage), ' ', el('b', { 'data-measure': 'now' }, count(s.users[last])));
  }));
}

// sizes is the chart's numbers as a table, for reading them out.
function sizes(t) {
  return el('details', { class: 'trend-table' }, el('summary', {}, 'Stage sizes by week, as a table'),
    table({ class: 'sizes' }, ['Week', ...t.stages.map((s) => `#${s.stage}`)],
      t.weeks.map((w, i) => el('tr', { 'data-week': day(w) }, el('td', {}, day(w)), t.stages.map((s) => num(count(s.users[i])))))));
}

// cohorts is each week's new users and the share that reached each stage,
// shaded by the share.
function cohorts(t) {
  return table({ class: 'cohorts' }, ['Cohort (week)', '#Users', ...t.stages.map((s) => `#${s.stage}`)],
    t.cohorts.map((c) => el('tr', { 'data-week': day(c.week) }, el('td', {}, day(c.week)), num(count(c.users), { 'data-measure': 'users' }),
      c.reached.map((r, j) => {
        const td = num(c.users ? percent(r) : '—', { 'data-stage': t.stages[j].stage });
        if (c.users) td.style.background = `rgba(78, 121, 167, ${(0.5 * r).toFixed(3)})`;
        return td;
      }))));
}

// loadTrends fills the Trends card.
export async function loadTrends(card) {
  const heading = card.querySelector('h2');
  try {
    const t = await get('trends');
    if (!t.weeks.length) {
      card.replaceChildren(heading, el('p', { class: 'empty' }, 'No weeks yet.'));
    } else {
      card.replaceChildren(heading,
        el('h3', {}, 'Users in each stage at the end of each week'), legend(t), chart(t), sizes(t),
        el('h3', {}, 'Conversion by weekly cohort'),
        el('p', { class: 'hint' }, 'A cohort is the users who first reached a stage that week; each column is the share of them who have reached that stage since.'),
        el('div', { class: 'scroll' }, cohorts(t)));
    }
    card.dataset.state = 'ready';
  } catch (e) {
    card.replaceChildren(heading, el('p', { class: 'problem', role: 'alert' }, e.message));
    card.dataset.state = 'error';
  }
}
