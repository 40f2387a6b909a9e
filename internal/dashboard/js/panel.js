// The drill panel: one view at a time (a stage, a flow, a user, an alert,
// a source), with Back to the views it was opened from, and closed with
// its button or Escape, giving the focus back to what opened it.
//
// A view is {kind, key, title, render}: render() asks the API and returns
// the panel's content, or throws with the reason to show instead.

import { el } from './dom.js';

const panel = document.getElementById('drill');
const title = document.getElementById('drill-title');
const body = panel.querySelector('.drill-body');
const back = panel.querySelector('[data-action=back]');

const history = [];
let current = null;
let opener = null;
let shown = 0; // counts show() calls: an answer for an older one is dropped

// open shows a view; the one open before it is a Back away.
export function open(view, from) {
  if (panel.hidden) {
    opener = from || document.activeElement;
    history.length = 0;
  } else if (current) {
    history.push(current);
  }
  show(view, false);
}

// replace shows a view in place of the open one: another page of its
// list, the other outcome of a flow.
export function replace(view) {
  show(view, true);
}

export function isOpen() {
  return !panel.hidden;
}

export function close() {
  shown++;
  panel.hidden = true;
  current = null;
  history.length = 0;
  for (const k of ['view', 'key', 'state']) delete panel.dataset[k];
  body.replaceChildren();
  document.body.classList.remove('drilling');
  if (opener && opener.isConnected) opener.focus();
  opener = null;
}

async function show(view, inPlace) {
  const mine = ++shown;
  current = view;
  panel.hidden = false;
  document.body.classList.add('drilling');
  Object.assign(panel.dataset, { view: view.kind, key: view.key, state: 'loading' });
  title.textContent = view.title;
  back.hidden = history.length === 0;
  body.setAttribute('aria-busy', 'true');
  if (!inPlace) {
    // A new view starts at the top, with the focus on its title; a new
    // page of the same view stays where the reader is.
    body.replaceChildren(el('p', { class: 'empty' }, 'Loading…'));
    panel.scrollTop = 0;
    title.focus();
  }
  let content;
  let state = 'ready';
  try {
    content = await view.render();
  } catch (e) {
    content = el('p', { class: 'problem', role: 'alert' }, e.message);
    state = 'error';
  }
  if (mine !== shown) return; // another view was asked for meanwhile
  body.replaceChildren(content);
  body.removeAttribute('aria-busy');
  panel.dataset.state = state;
}

back.addEventListener('click', () => {
  const v = history.pop();
  if (v) show(v, false);
});
panel.querySelector('[data-action=close]').addEventListener('click', close);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !panel.hidden) {
    e.preventDefault();
    close();
  }
});
