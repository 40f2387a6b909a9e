// One user's timeline: the stages they entered, the alerts that fire for
// them and why, their events by touchpoint, their survey answers and what
// of theirs is held for review.

import { el, table, num, facts, count, when, money, breakable, activate } from './dom.js';
import { get, pathOf } from './api.js';
import { open } from './panel.js';
import { section, segmentChips, riskText, callValues } from './lists.js';
import { alertView } from './views.js';

// attribute writes an attribute's value for reading: fractions to two
// decimals, objects as JSON.
function attribute(v) {
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Math.round(v * 100) / 100);
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
}

// details writes an event's attributes on one line, "key: value · …";
// the title holds them as they came.
function details(attributes) {
  if (!attributes || typeof attributes !== 'object') return el('td', {});
  const text = Object.entries(attributes).map(([k, v]) => `${k}: ${attribute(v)}`).join(' · ');
  return el('td', { class: 'details', title: JSON.stringify(attributes) }, text.length > 110 ? `${text.slice(0, 109)}…` : text);
}

function eventRows(events) {
  return events.map((e) => el('tr', { 'data-touchpoint': e.touchpoint },
    el('td', { class: 'nowrap' }, when(e.at)), el('td', {}, e.touchpoint), el('td', {}, el('code', {}, breakable(e.type))),
    num(e.amount !== undefined ? money(e.amount, e.currency) : ''), details(e.attributes)));
}

// userView asks for a user's timeline.
export function userView(id) {
  return {
    kind: 'user',
    key: id,
    title: `User ${id}`,
    async render() {
      const u = await get(`users/${pathOf(id)}`);
      const moves = el('ol', { class: 'moves' }, (u.moves || []).map((m) => el('li', { 'data-stage': m.To },
        el('span', { class: 'nowrap muted' }, when(m.At)), ' ', el('b', {}, m.To), m.From ? ` from ${m.From}` : ' (first stage)')));

      const alerts = el('ul', { class: 'user-alerts' }, (u.alerts || []).map((a) => {
        const b = el('button', { type: 'button', class: 'alert-link', 'data-alert': a.id }, a.id);
        activate(b, null, () => open(alertView(a.id), b));
        return el('li', { 'data-alert': a.id },
          el('div', {}, b, ' ', el('span', { class: `state ${a.firing ? 'firing' : 'pending'}` }, a.firing ? 'Firing' : 'Pending'),
            el('span', { class: 'muted' }, ` since ${when(a.activeAt)}`)),
          callValues(a.values));
      }));

      const touchpoints = Object.entries(u.touchpoints || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      // Newest first: what happened lately is what a drill-down is after.
      const events = [...(u.events || [])].reverse();
      const surveys = [...(u.surveys || [])].reverse();
      const held = u.quarantined || [];
      return el('div', {},
        facts([
          ['Stage', u.stage, 'stage'],
          ['In it since', when(u.enteredAt), 'entered'],
          ['Churn risk', riskText(u.risk), 'risk'],
          u.revenue && ['Revenue', money(u.revenue.amount, u.revenue.currency), 'revenue'],
        ]),
        segmentChips(u.segments),
        section('Stages entered', moves),
        section(`Alerts (${count((u.alerts || []).length)})`,
          u.alerts && u.alerts.length ? alerts : el('p', { class: 'empty' }, 'No alert fires or waits for this user.')),
        section('Events by touchpoint',
          el('ul', { class: 'touchpoints' }, touchpoints.map(([t, n]) => el('li', { 'data-touchpoint': t }, t, ' ', el('b', {}, count(n)))))),
        section(`Events (${count(events.length)}), newest first`,
          u.truncated && el('p', { class: 'hint' }, `Only the newest ${count(events.length)} are listed.`),
          events.length ? table({ class: 'events' }, ['When', 'Touchpoint', 'Type', '#Amount', 'Details'], eventRows(events))
            : el('p', { class: 'empty' }, 'No events.')),
        section(`Surveys (${count(surveys.length)})`,
          surveys.length ? table({ class: 'surveys' }, ['When', 'Touchpoint', 'Type', '#Amount', 'Answers'], eventRows(surveys))
            : el('p', { class: 'empty' }, 'No survey answers.')),
        section(`Held for review (${count(held.length)})`,
          held.length ? table({ class: 'held' }, ['#Record', 'Source', 'Check', 'Reason', 'Status', 'Held'],
            held.map((q) => el('tr', { 'data-record': q.id }, num(q.id), el('td', {}, q.source), el('td', {}, el('code', {}, breakable(q.check))),
              el('td', {}, q.reason), el('td', {}, q.status), el('td', { class: 'nowrap' }, when(q.heldAt)))))
            : el('p', { class: 'empty' }, 'Nothing of theirs is held.')));
    },
  };
}
