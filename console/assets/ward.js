// The nurse's page: the form "New request" and the table "My requests" (hers and her
// unit's, as the API scopes them), whose status follows the request live.
import { h, api, say, fail, table, cells, when } from './dom.js';
import { t, lang } from './i18n.js';
import { medications, cabinetList, medLabel, itemsText } from './catalogue.js';

const cancellable = new Set(['awaiting_approval', 'ready_at_cabinet']);

export function wardView(me, focus) {
  const root = h('div');
  const formSection = h('section', { 'aria-labelledby': 'new-h' }, h('h1', { id: 'new-h' }, t('new.title')));
  const listSection = h('section', { 'aria-labelledby': 'mine-h' }, h('h1', { id: 'mine-h' }, t('mine.title')));
  const list = h('div');
  listSection.append(list);
  root.append(formSection, listSection);
  let byId = new Map();
  let lineSeq = 0;

  async function buildForm() {
    byId = await medications();
    const cabs = await cabinetList();
    // The cabinets of her unit first.
    cabs.sort((a, b) => (b.unit === me.unit) - (a.unit === me.unit) || a.code.localeCompare(b.code));
    const options = [...byId.values()].map((m) => h('option', { value: optionText(m) }));
    const datalist = h('datalist', { id: 'catalogue' }, options);
    const lines = h('div', { id: 'lines' });
    const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
    const form = h('form', { class: 'request', 'aria-labelledby': 'new-h', novalidate: false },
      field('f-mrn', t('f.mrn'), h('input', { id: 'f-mrn', name: 'mrn', required: true, maxlength: 64, autocomplete: 'off' })),
      field('f-bed', t('f.bed'), h('input', { id: 'f-bed', name: 'bed', maxlength: 32, autocomplete: 'off' })),
      field('f-family', t('f.family'), h('input', { id: 'f-family', name: 'family', maxlength: 100, autocomplete: 'off' })),
      field('f-given', t('f.given'), h('input', { id: 'f-given', name: 'given', maxlength: 100, autocomplete: 'off' })),
      field('f-cabinet', t('f.cabinet'), h('select', { id: 'f-cabinet', name: 'cabinet', required: true },
        cabs.map((c) => h('option', { value: c.id }, `${c.code} — ${c.name}`)))),
      field('f-priority', t('f.priority'), h('select', { id: 'f-priority', name: 'priority' },
        ['routine', 'urgent', 'stat'].map((p) => h('option', { value: p }, t('prio.' + p))))),
      h('fieldset', {}, h('legend', {}, t('f.lines')), lines,
        h('button', { type: 'button', id: 'add-line', onclick: () => addLine(true) }, t('addLine'))),
      h('div', { class: 'formbar' }, h('button', { type: 'submit', class: 'primary' }, t('submit'))),
      datalist);
    function addLine(focusIt) {
      const n = lineSeq++;
      const med = h('input', { id: `med-${n}`, list: 'catalogue', required: true, autocomplete: 'off', 'data-line': n });
      const qty = h('input', { id: `qty-${n}`, type: 'number', min: 1, max: 1000, value: 1, required: true, inputmode: 'numeric' });
      const line = h('div', { class: 'line' }, field(`med-${n}`, t('f.medication'), med), field(`qty-${n}`, t('f.quantity'), qty));
      if (lines.children.length > 0) {
        line.append(h('button', { type: 'button', onclick: () => line.remove() }, t('removeLine')));
      }
      lines.append(line);
      if (focusIt) med.focus();
    }
    addLine(false);
    form.addEventListener('submit', (e) => { e.preventDefault(); submit(form); });
    formSection.append(form);
  }

  function optionText(m) { return `${medLabel(m)} (${m.code})`; }

  async function submit(form) {
    if (!form.reportValidity()) return;
    const v = (id) => form.querySelector('#' + id).value.trim();
    const byText = new Map([...byId.values()].map((m) => [optionText(m).toLowerCase(), m]));
    const items = [];
    for (const input of form.querySelectorAll('input[data-line]')) {
      const m = byText.get(input.value.trim().toLowerCase());
      if (!m) { input.focus(); say(t('new.unknownMed', { v: input.value })); return; }
      const qty = Number(form.querySelector('#qty-' + input.dataset.line).value);
      items.push({ medication_id: m.id, quantity: qty });
    }
    const patient = { mrn: v('f-mrn') };
    if (v('f-bed')) patient.bed = v('f-bed');
    if (v('f-family') || v('f-given')) patient.name = { family: v('f-family'), given: v('f-given') };
    const body = { cabinet_id: Number(v('f-cabinet')), patient, priority: v('f-priority'), items };
    try {
      await api('POST', '/v1/requests', body, { 'Idempotency-Key': crypto.randomUUID() });
      say(t('new.created'));
      form.reset();
      form.querySelectorAll('.line').forEach((l, i) => { if (i > 0) l.remove(); });
      await loadList();
    } catch (err) { fail(err); }
  }

  async function loadList() {
    try {
      if (byId.size === 0) byId = await medications();
      const page = await api('GET', '/v1/requests?limit=50');
      const cols = [t('col.requested'), t('col.patient'), t('col.cabinet'), t('col.medications'), t('col.priority'), t('col.status'), t('col.reason'), t('col.actions')];
      const rows = page.data.map((r) => {
        const pat = r.patient;
        const name = pat.name ? `${pat.name.family}, ${pat.name.given}` : '';
        const action = r.requester_id === me.id && cancellable.has(r.status)
          ? h('button', { type: 'button', onclick: () => cancel(r) }, t('cancel')) : '';
        return h('tr', { 'data-id': r.id }, cells(cols, [
          when(r.created_at, lang()),
          h('div', {}, `${t('mrn')} ${pat.mrn}`, name ? h('div', {}, name) : null, pat.bed ? h('div', { class: 'muted' }, `${t('bed')} ${pat.bed}`) : null),
          r.cabinet_code, itemsText(r.items, byId), t('prio.' + r.priority),
          h('span', { class: 'req-status', 'data-status': r.status }, t('st.' + r.status)),
          r.reason || '', action,
        ]));
      });
      list.replaceChildren(rows.length ? table(t('mine.title'), cols, rows) : h('p', {}, t('mine.empty')));
    } catch (err) { fail(err); }
  }

  async function cancel(r) {
    try {
      await api('POST', `/v1/requests/${encodeURIComponent(r.id)}/cancel`, {});
      say(t('done.cancel'));
      await loadList();
    } catch (err) { fail(err); }
  }

  (async () => {
    try { await buildForm(); } catch (err) { fail(err); }
    await loadList();
    if (focus === 'mine') listSection.scrollIntoView();
  })();
  return { node: root, refresh: loadList, close: () => {} };
}
