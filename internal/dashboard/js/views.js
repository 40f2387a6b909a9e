// The panels a click on the map opens: a stage's users, who converted or
// dropped off between two stages, the users an alert fires for, and a
// source's exceptions. Each asks the drill-down API.

import { el, table, num, facts, count, percent, when, breakable, activate } from './dom.js';
import { get, pathOf } from './api.js';
import { replace } from './panel.js';
import { PAGE, section, pager, userTable, userButton, breakdowns, flowBreakdowns, segmentChips, callValues } from './lists.js';

// stageView is the users now in a stage: how many, by segment, and a
// page of them, riskiest first.
export function stageView(stage, offset = 0) {
  return {
    kind: 'stage',
    key: stage,
    title: `Stage ${stage}`,
    async render() {
      const v = await get(`stages/${pathOf(stage)}`, { offset, limit: PAGE });
      return el('div', {},
        facts([
          ['Users now', count(v.users), 'users'],
          ['Churn rate', percent(v.churnRate), 'churn-rate'],
          v.expectedChurn !== undefined && ['Expected churn', percent(v.expectedChurn), 'expected-churn'],
        ]),
        el('p', { class: 'hint' }, 'Churn rate: of the users who reached the stage, the share who went on to churn.',
          v.expectedChurn !== undefined ? ' Expected churn: the churn model’s mean risk for the users in it now.' : ''),
        section('By segment', breakdowns(v.breakdown, v.users)),
        section(`Users in ${stage}, riskiest first`, userTable(v.page.users, { stage: false }),
          pager(v.page, (o) => replace(stageView(stage, o)))));
    },
  };
}

// flowView is the funnel step from one stage to another: of the users who
// entered from, those who entered to within the conversion window
// (converted) and the others (dropped off), by segment, and a page of
// either.
export function flowView(from, to, outcome = 'dropped', offset = 0) {
  return {
    kind: 'flow',
    key: `${from}→${to}`,
    title: `${from} → ${to}`,
    async render() {
      const v = await get(`flows/${pathOf(from, to)}`, { outcome, offset, limit: PAGE });
      const toggle = el('div', { class: 'toggle', role: 'group', 'aria-label': 'Users listed' },
        [['dropped', 'Dropped off', v.dropped], ['converted', 'Converted', v.converted]].map(([o, label, n]) => {
          const b = el('button', { type: 'button', 'data-outcome': o, 'aria-pressed': String(o === v.outcome) }, `${label} (${count(n)})`);
          activate(b, null, () => replace(flowView(from, to, o, 0)));
          return b;
        }));
      return el('div', {},
        facts([
          [`Entered ${from}`, count(v.entered), 'entered'],
          [`Went on to ${to}`, count(v.converted), 'converted'],
          ['Dropped off', count(v.dropped), 'dropped'],
          ['Conversion', percent(v.entered ? v.converted / v.entered : NaN), 'rate'],
        ]),
        el('p', { class: 'hint' }, `Converted: entered ${to} within the map’s conversion window after entering ${from}.`),
        section('By segment', flowBreakdowns(v.breakdown)),
        section(v.outcome === 'converted' ? `Users who went on to ${to}` : `Users who dropped off after ${from}`, toggle,
          userTable(v.page.users), pager(v.page, (o) => replace(flowView(from, to, v.outcome, o)))));
    },
  };
}

// alertView is the users an alert fires (or waits) for, each with what
// its helper calls answered for them.
export function alertView(name) {
  return {
    kind: 'alert',
    key: name,
    title: `Alert ${name}`,
    async render() {
      const v = await get(`alerts/${pathOf(name)}`);
      const head = facts([
        ['Severity', v.severity || 'none', 'severity'],
        ['Scope', v.scope, 'scope'],
        ['Firing', count(v.firing), 'firing'],
        ['Pending', count(v.pending), 'pending'],
      ]);
      if (v.scope === 'Journey') {
        return el('div', {}, head, el('p', { class: 'hint' }, 'A Journey-scoped alert fires for the journey as a whole, not for users: its counts are the whole journey’s, whatever the segment filter.'));
      }
      const users = v.users || [];
      const list = el('ul', { class: 'alert-users' }, users.map((u) => {
        const b = userButton(u.id);
        const li = el('li', { 'data-user': u.id, 'data-firing': String(u.firing) },
          el('div', { class: 'alert-user-head' }, b,
            el('span', { class: `state ${u.firing ? 'firing' : 'pending'}` }, u.firing ? 'Firing' : 'Pending'),
            el('span', { class: 'muted' }, `since ${when(u.activeAt)} · in ${u.stage}`), segmentChips(u.segments)),
          callValues(u.values));
        li.addEventListener('click', (e) => {
          if (!e.target.closest('button')) b.click();
        });
        return li;
      }));
      return el('div', {}, head,
        section(`Users it fires for (${count(users.length)})`,
          users.length ? list : el('p', { class: 'empty' }, 'None of these users.'),
          el('p', { class: 'hint' }, 'Each user’s values are what the alert’s helper calls answer for them now.')));
    },
  };
}

// sourceView is what a source holds for review: by check, with examples.
export function sourceView(name) {
  return {
    kind: 'source',
    key: name,
    title: `Source ${name}`,
    async render() {
      const v = await get(`sources/${pathOf(name)}`);
      return el('div', {},
        facts([
          ['Touchpoint', v.touchpoint, 'touchpoint'],
          ['Financial', v.financial ? 'yes (SOX)' : 'no', 'financial'],
          ['Pending review', count(v.pending), 'pending'],
          v.oldest && ['Oldest held', when(v.oldest), 'oldest'],
        ]),
        section('Held for review, by check',
          v.byCheck.length
            ? table({ class: 'checks' }, ['Check', '#Pending', 'Oldest held'],
              v.byCheck.map((c) => el('tr', { 'data-check': c.check }, el('td', {}, el('code', {}, breakable(c.check))), num(count(c.pending)), el('td', {}, when(c.oldest)))))
            : el('p', { class: 'empty' }, 'Nothing held for review.')),
        v.examples.length > 0 && section(`Examples (${count(v.examples.length)} of ${count(v.pending)})`,
          table({ class: 'examples' }, ['#Record', 'Check', 'Reason', 'Held'],
            v.examples.map((q) => el('tr', { 'data-record': q.id },
              num(q.id), el('td', {}, el('code', {}, breakable(q.check))),
              el('td', {}, q.reason, q.eventID && el('div', { class: 'muted event-id' }, `event ${q.eventID}`)),
              el('td', { class: 'nowrap' }, when(q.heldAt)))))));
    },
  };
}
