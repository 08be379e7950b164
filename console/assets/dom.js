// Small helpers: building elements (text is always set as text, never parsed as HTML), and
// calling the API with the session's CSRF token.
import { t } from './i18n.js';

// h builds an element: attrs are set as attributes (on* keys as listeners), children are
// nodes or strings (text nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let csrf = '';
export function setCSRF(token) { csrf = token || ''; }

// ApiError is an answer of the API that was not a success: its status and error body.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// api calls a route of this origin with the session cookie (and, for a change, the CSRF
// token), and returns the decoded JSON answer (null for none).
export async function api(method, path, body, extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin', cache: 'no-store',
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// all reads every page of a list route.
export async function all(path) {
  const out = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', path + sep + 'limit=200' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    out.push(...page.data);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

// say announces a message in the status region.
let sayTimer;
export function say(msg) {
  const el = document.getElementById('status');
  el.textContent = msg;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}

// fail tells the user why an action did not work, in words.
export function fail(err) {
  if (err instanceof ApiError && err.status === 401) { say(t('err.session')); return; }
  say(t('err.generic', { msg: err.message }));
}

// table builds a table named by its caption, with the column labels repeated on each cell
// for the narrow layout.
export function table(name, columns, rows, cls = 'stack') {
  return h('table', { class: cls },
    h('caption', {}, name),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows));
}

// cells makes the cells of a row, each labelled with its column for the narrow layout.
export function cells(columns, values) {
  return values.map((v, i) => h('td', { 'data-label': columns[i] }, v));
}

// ago says how long ago a time was, as m:ss or h:mm:ss.
export function ago(iso, now = Date.now()) {
  let s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const hours = Math.floor(s / 3600); s -= hours * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const two = (n) => String(n).padStart(2, '0');
  return hours ? `${hours}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

// when formats a time in the user's language.
export function when(iso, lang) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' });
}
