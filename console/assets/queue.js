// The pharmacist's approval queue: STAT first, then oldest (the server's order, GET
// /v1/queue), paged, live, and workable from the keyboard alone.
import { h, api, say, fail, table, cells, ago } from './dom.js';
import { t } from './i18n.js';
import { medications, itemsText } from './catalogue.js';

const pageSize = 50;

export function queueView(me) {
  const st = {
    cursors: [''], page: 0, next: '', items: [], selected: 0,
    rejecting: '', reason: '', notes: new Map(), byId: new Map(), busy: false,
  };
  const root = h('section', { 'aria-labelledby': 'queue-h' });
  const heading = h('h1', { id: 'queue-h' }, t('queue.title'));
  const body = h('div');
  const pager = h('div', { class: 'pager' });
  root.append(heading, body, pager);

  const mine = (it) => it.approvals.some((a) => a.actor.id === me.id);
  const overdue = (it) => it.priority === 'stat' && it.approval_deadline && Date.parse(it.approval_deadline) < Date.now();

  async function load() {
    try {
      st.byId = await medications();
      const cursor = st.cursors[st.page];
      const page = await api('GET', `/v1/queue?limit=${pageSize}` + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      st.items = page.data;
      st.next = page.next_cursor || '';
      if (st.items.length === 0 && st.page > 0) { st.page--; return load(); }
      render();
    } catch (err) { fail(err); }
  }

  function row(it, i) {
    const cols = columns();
    const pat = it.patient;
    const name = pat.name ? `${pat.name.family}, ${pat.name.given}` : '';
    const patient = h('div', {}, h('strong', {}, `${t('mrn')} ${pat.mrn}`), name ? h('div', {}, name) : null,
      pat.bed ? h('div', { class: 'muted' }, `${t('bed')} ${pat.bed}`) : null);
    const prio = h('span', { class: 'prio-' + it.priority }, t('prio.' + it.priority));
    const prioCell = h('div', {}, prio, overdue(it) ? [' ', h('span', { class: 'badge overdue' }, t('overdue'))] : null);
    const waited = h('span', { 'data-since': it.created_at }, ago(it.created_at));
    let approvals = '';
    if (it.required_approvals > 1) {
      const first = it.approvals[0];
      approvals = h('div', {}, t('approvals.of', { n: it.approvals.length, m: it.required_approvals }),
        first ? h('div', { class: 'muted' }, t('approvals.by', { name: first.actor.name || first.actor.id })) : null);
    }
    const actions = h('div', { class: 'actions' });
    if (st.rejecting === it.id) {
      const id = 'reason-' + i;
      const input = h('input', { id, type: 'text', required: true, maxlength: 1000, autocomplete: 'off',
        oninput: (e) => { st.reason = e.target.value; },
        onkeydown: (e) => {
          if (e.key === 'Enter') { e.preventDefault(); reject(it); }
          if (e.key === 'Escape') { e.preventDefault(); st.rejecting = ''; render(); focusRow(); }
        } });
      input.value = st.reason;
      actions.append(h('label', { for: id }, t('reason')), input,
        h('button', { type: 'button', class: 'danger', onclick: () => reject(it) }, t('confirmReject')),
        h('button', { type: 'button', onclick: () => { st.rejecting = ''; render(); focusRow(); } }, t('cancel')));
    } else if (mine(it)) {
      actions.append(h('span', { class: 'muted' }, t('approvals.mine')),
        h('button', { type: 'button', class: 'danger', onclick: () => startReject(i) }, t('reject')));
    } else {
      const noteId = 'note-' + i;
      const note = h('input', { id: noteId, type: 'text', maxlength: 1000, autocomplete: 'off', placeholder: t('note'),
        'aria-label': t('note'), oninput: (e) => st.notes.set(it.id, e.target.value) });
      note.value = st.notes.get(it.id) || '';
      actions.append(note,
        h('button', { type: 'button', class: 'primary', onclick: () => approve(it) }, t('approve')),
        h('button', { type: 'button', class: 'danger', onclick: () => startReject(i) }, t('reject')));
    }
    const tr = h('tr', {
      'data-id': it.id, tabindex: i === st.selected ? '0' : '-1',
      class: [i === st.selected ? 'selected' : '', overdue(it) ? 'overdue' : ''].join(' ').trim(),
      onfocusin: () => select(i, false),
    }, cells(cols, [prioCell, waited, patient, it.cabinet_code, itemsText(it.items, st.byId), approvals, actions]));
    return tr;
  }

  function columns() {
    return [t('col.priority'), t('col.waited'), t('col.patient'), t('col.cabinet'), t('col.medications'), t('col.approvals'), t('col.actions')];
  }

  function render() {
    const active = document.activeElement;
    const hadFocus = root.contains(active);
    const focusedReason = active && active.id && active.id.startsWith('reason-');
    st.selected = Math.min(st.selected, Math.max(0, st.items.length - 1));
    body.replaceChildren(st.items.length === 0
      ? h('p', {}, t('queue.empty'))
      : table(t('queue.title'), columns(), st.items.map(row)));
    pager.replaceChildren(
      h('button', { type: 'button', disabled: st.page === 0, onclick: () => { st.page--; st.selected = 0; load(); } }, t('page.prev')),
      h('span', {}, t('page.of', { n: st.page + 1 })),
      h('button', { type: 'button', disabled: !st.next, onclick: () => { st.cursors[st.page + 1] = st.next; st.page++; st.selected = 0; load(); } }, t('page.next')));
    if (focusedReason) body.querySelector('input[id^="reason-"]')?.focus();
    else if (hadFocus && !root.contains(document.activeElement)) focusRow();
  }

  function select(i, focus = true) {
    if (i < 0 || i >= st.items.length) return;
    const changed = st.selected !== i;
    st.selected = i;
    const rows = body.querySelectorAll('tbody tr');
    rows.forEach((r, j) => {
      r.classList.toggle('selected', j === i);
      r.tabIndex = j === i ? 0 : -1;
    });
    if (focus && (changed || !rows[i].contains(document.activeElement))) rows[i].focus();
  }

  function focusRow() { body.querySelectorAll('tbody tr')[st.selected]?.focus(); }

  function startReject(i) {
    st.selected = i;
    st.rejecting = st.items[i].id;
    st.reason = '';
    render();
    body.querySelector('input[id^="reason-"]')?.focus();
  }

  async function approve(it) {
    if (st.busy || mine(it)) return;
    st.busy = true;
    try {
      const note = (st.notes.get(it.id) || '').trim();
      await api('POST', `/v1/requests/${encodeURIComponent(it.id)}/approve`, note ? { note } : {});
      st.notes.delete(it.id);
      say(t('done.approve'));
      await load();
      focusRow();
    } catch (err) { fail(err); } finally { st.busy = false; }
  }

  async function reject(it) {
    const reason = st.reason.trim();
    const input = body.querySelector('input[id^="reason-"]');
    if (!reason) { input?.focus(); input?.reportValidity(); return; }
    if (st.busy) return;
    st.busy = true;
    try {
      await api('POST', `/v1/requests/${encodeURIComponent(it.id)}/reject`, { reason });
      st.rejecting = ''; st.reason = '';
      say(t('done.reject'));
      await load();
      focusRow();
    } catch (err) { fail(err); } finally { st.busy = false; }
  }

  // Keys work anywhere on the page but in a text field.
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || document.querySelector('dialog[open]')) return;
    const it = st.items[st.selected];
    switch (e.key) {
      case 'j': case 'ArrowDown': e.preventDefault(); select(Math.min(st.selected + 1, st.items.length - 1)); break;
      case 'k': case 'ArrowUp': e.preventDefault(); select(Math.max(st.selected - 1, 0)); break;
      case 'a': if (it) { e.preventDefault(); approve(it); } break;
      case 'r': if (it) { e.preventDefault(); startReject(st.selected); } break;
      default:
    }
  }

  const ticker = setInterval(() => {
    const now = Date.now();
    root.querySelectorAll('[data-since]').forEach((el) => { el.textContent = ago(el.dataset.since, now); });
  }, 1000);
  document.addEventListener('keydown', onKey);
  load();
  return {
    node: root,
    refresh: load,
    close: () => { clearInterval(ticker); document.removeEventListener('keydown', onKey); },
  };
}
