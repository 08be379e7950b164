// The console's shell: who is signed in, the pages of their role, the language switch, the
// keyboard help, sign out, and the live feed that makes the open page read again when a
// request moves.
import { h, api, setCSRF, say, fail, ApiError } from './dom.js';
import { t, setLang, lang, pick, messages } from './i18n.js';
import { queueView } from './queue.js';
import { wardView } from './ward.js';
import { pages as reviewPages } from './review.js';

const pagesByRole = {
  pharmacist: ['queue', 'overrides', 'discrepancies'],
  nurse: ['new', 'mine'],
  technician: ['refills', 'stock'],
  admin: ['queue', 'overrides', 'discrepancies', 'refills', 'stock', 'users', 'cabinets', 'medications'],
};

const views = {
  queue: (me) => queueView(me),
  new: (me) => wardView(me, 'new'),
  mine: (me) => wardView(me, 'mine'),
  ...reviewPages,
};

let me = null;
let view = null;

async function start() {
  setLang(pick(navigator.languages || [navigator.language]));
  try {
    const resp = await fetch('/console/me', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
    if (resp.status === 204) { signedOut(resp.headers.get('X-Console-Sign-In') === 'oidc'); return; }
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    me = await resp.json();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) { signedOut(false); return; }
    fail(err);
    return;
  }
  setCSRF(me.csrf);
  window.addEventListener('hashchange', show);
  document.addEventListener('keydown', (e) => {
    const tag = e.target.tagName;
    if (e.key === '?' && tag !== 'INPUT' && tag !== 'TEXTAREA' && tag !== 'SELECT') { e.preventDefault(); help(); }
  });
  live();
  show();
}

function allowed() { return pagesByRole[me.role] || []; }

function current() {
  const name = location.hash.replace(/^#/, '');
  return allowed().includes(name) ? name : allowed()[0];
}

function show() {
  const name = current();
  document.title = `${t('nav.' + name)} — ${t('app.title')}`;
  chrome(name);
  if (view) view.close();
  view = name ? views[name](me) : { node: h('p', {}, '—'), refresh() {}, close() {} };
  document.getElementById('main').replaceChildren(view.node);
}

function chrome(active) {
  const nav = document.getElementById('nav');
  nav.replaceChildren(...allowed().map((p) => h('a', { href: '#' + p, 'aria-current': p === active ? 'page' : null }, t('nav.' + p))));
  const tools = document.getElementById('tools');
  const select = h('select', { id: 'lang', onchange: (e) => { setLang(e.target.value); show(); } },
    Object.keys(messages).map((l) => h('option', { value: l, selected: l === lang() }, l === 'en' ? 'English' : 'Português (Brasil)')));
  tools.replaceChildren(
    h('span', { class: 'who' }, t('signedin', { name: me.name || me.id, role: me.role })),
    h('label', { for: 'lang' }, t('language')), select,
    allowed().includes('queue') ? h('button', { type: 'button', onclick: help }, t('shortcuts')) : null,
    h('button', { type: 'button', onclick: signOut }, t('signout')));
}

function help() {
  const dlg = document.getElementById('help');
  const key = (k, what) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, what)];
  dlg.replaceChildren(
    h('h2', { id: 'help-title' }, t('shortcuts')),
    h('p', {}, t('keys.intro')),
    h('dl', {}, key('j / ↓', t('keys.down')), key('k / ↑', t('keys.up')), key('a', t('keys.approve')),
      key('r', t('keys.reject')), key('?', t('keys.help')), key('Esc', t('keys.esc'))),
    h('form', { method: 'dialog' }, h('button', { type: 'submit' }, t('close'))));
  if (!dlg.open) dlg.showModal();
}

async function signOut() {
  try {
    await api('POST', '/session/end');
  } catch (err) { fail(err); return; }
  location.assign('/');
}

function signedOut(oidc) {
  document.getElementById('nav').replaceChildren();
  document.getElementById('tools').replaceChildren();
  document.title = t('signin.title') + ' — ' + t('app.title');
  document.getElementById('main').replaceChildren(
    h('h1', {}, t('signin.title')), h('p', {}, t('signin.text')),
    oidc ? h('p', {}, h('a', { href: '/login' }, t('signin.oidc'))) : null);
}

// live reads the open page again when the projection moves, at most every 300 ms. Without
// the feed it reads again every 5 s.
function live() {
  let timer = null;
  const again = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; view?.refresh(); }, 300);
  };
  if (!me.live) { setInterval(again, 5000); return; }
  const es = new EventSource('/console/events');
  es.addEventListener('change', again);
  // After a reconnect, what happened meanwhile is unknown.
  es.addEventListener('ready', again);
}

start();
