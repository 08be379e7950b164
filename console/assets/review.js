// The review, stock-keeping and admin pages: each a table of what waits, with its action.
import { h, api, say, fail, table, cells, all, when } from './dom.js';
import { t, lang } from './i18n.js';
import { medications, cabinetList, medLabel } from './catalogue.js';

// listPage is a page holding one table, read from path, rebuilt by build(rows).
function listPage(titleKey, load, build) {
  const root = h('section', { 'aria-labelledby': 'page-h' }, h('h1', { id: 'page-h' }, t(titleKey)));
  const body = h('div');
  root.append(body);
  async function refresh() {
    try { body.replaceChildren(...[].concat(build(await load(), refresh))); } catch (err) { fail(err); }
  }
  refresh();
  // These pages are not about requests: the live feed (a request moved) does not rebuild them,
  // which would also wipe what is being typed. Each reads again after its own actions.
  return { node: root, refresh() {}, close() {} };
}

const act = (method, path, bodyOf, done) => async (e) => {
  e.preventDefault();
  try { await api(method, path, bodyOf()); say(t('done')); await done(); } catch (err) { fail(err); }
};

function overrides() {
  return listPage('ov.title', () => all('/v1/overrides?status=open'), (rows, again) => {
    const cols = [t('col.when'), t('col.cabinet'), t('col.medication'), t('col.quantity'), t('col.by'), t('col.cause'), t('col.actions')];
    if (!rows.length) return h('p', {}, t('ov.empty'));
    return table(t('ov.title'), cols, rows.map((o) => {
      const review = (outcome) => act('POST', `/v1/overrides/${o.id}/review`, () => ({ outcome }), again);
      return h('tr', {}, cells(cols, [when(o.dispensed_at, lang()), o.cabinet_code, o.medication_name, o.quantity,
        o.dispensed_by?.name || o.dispensed_by?.id || '', o.cause,
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: review('justified') }, t('ov.justified')),
          h('button', { type: 'button', class: 'danger', onclick: review('not_justified') }, t('ov.notJustified')))]));
    }));
  });
}

function discrepancies() {
  return listPage('dis.title', () => all('/v1/discrepancies?status=open'), (rows, again) => {
    const cols = [t('col.when'), t('col.cabinet'), t('col.medication'), t('col.kind'), t('col.actions')];
    if (!rows.length) return h('p', {}, t('dis.empty'));
    return table(t('dis.title'), cols, rows.map((d) => {
      const rid = `dr-${d.id}`, cid = `dc-${d.id}`;
      const reason = h('input', { id: rid, required: true, maxlength: 1000 });
      const counted = h('input', { id: cid, type: 'number', min: 0, required: true });
      const form = h('form', { class: 'actions', onsubmit: act('POST', `/v1/discrepancies/${d.id}/resolve`,
        () => ({ reason: reason.value, set_on_hand: Number(counted.value) }), again) },
      h('label', { for: rid }, t('reason')), reason, h('label', { for: cid }, t('dis.counted')), counted,
      h('button', { type: 'submit' }, t('dis.resolve')));
      return h('tr', {}, cells(cols, [when(d.created_at, lang()), d.cabinet_code, d.medication_name, d.kind, form]));
    }));
  });
}

function refills() {
  return listPage('ref.title', () => all('/v1/refills?status=open'), (rows, again) => {
    const cols = [t('col.when'), t('col.cabinet'), t('col.medication'), t('col.quantity'), t('col.actions')];
    if (!rows.length) return h('p', {}, t('ref.empty'));
    return table(t('ref.title'), cols, rows.map((r) => {
      const qid = `rq-${r.id}`;
      const qty = h('input', { id: qid, type: 'number', min: 1, value: r.requested_quantity, required: true });
      const form = h('form', { class: 'actions', onsubmit: act('POST', `/v1/refills/${r.id}/confirm`, () => ({ quantity: Number(qty.value) }), again) },
        h('label', { for: qid }, t('ref.loaded')), qty, h('button', { type: 'submit' }, t('ref.confirm')));
      return h('tr', {}, cells(cols, [when(r.since, lang()), r.cabinet_code, r.medication_name, r.requested_quantity, form]));
    }));
  });
}

function stock() {
  return listPage('stock.title', async () => {
    const cabs = await cabinetList();
    const meds = await medications();
    const out = [];
    for (const c of cabs) {
      for (const s of await all(`/v1/cabinets/${c.id}/stock`)) out.push({ cab: c, s, med: meds.get(s.medication_id) });
    }
    return out;
  }, (rows, again) => {
    const cols = [t('col.cabinet'), t('col.medication'), t('col.onhand'), t('col.reserved'), t('col.par'), t('col.actions')];
    return table(t('stock.title'), cols, rows.map(({ cab, s, med }, i) => {
      const cid = `sc-${i}`, lid = `sl-${i}`, wid = `sw-${i}`;
      const count = h('input', { id: cid, type: 'number', min: 0, required: true });
      const load = h('input', { id: lid, type: 'number', min: 1, required: true });
      const witness = h('input', { id: wid, maxlength: 200 });
      const counts = h('form', { class: 'actions', onsubmit: act('POST', `/v1/cabinets/${cab.id}/counts`,
        () => ({ medication_id: s.medication_id, count: Number(count.value) }), again) },
      h('label', { for: cid }, t('stock.count')), count, h('button', { type: 'submit' }, t('stock.record')));
      const loads = h('form', { class: 'actions', onsubmit: act('POST', `/v1/cabinets/${cab.id}/loads`,
        () => ({ medication_id: s.medication_id, quantity: Number(load.value), ...(witness.value ? { witness: witness.value } : {}) }), again) },
      h('label', { for: lid }, t('stock.load')), load, h('label', { for: wid }, t('stock.witness')), witness,
      h('button', { type: 'submit' }, t('stock.loadButton')));
      return h('tr', {}, cells(cols, [cab.code, medLabel(med), s.on_hand, s.reserved, s.par_level, h('div', {}, counts, loads)]));
    }));
  });
}

function users() {
  return listPage('users.title', () => all('/v1/users'), (rows, again) => {
    const cols = [t('col.name'), t('col.role'), t('col.unit'), t('col.registration'), t('col.active'), t('col.actions')];
    const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
    const inputs = {
      id: h('input', { id: 'u-id', required: true, maxlength: 200, autocomplete: 'off' }),
      name: h('input', { id: 'u-name', required: true, maxlength: 200, autocomplete: 'off' }),
      role: h('select', { id: 'u-role' }, ['nurse', 'pharmacist', 'technician', 'admin', 'cabinet'].map((r) => h('option', { value: r }, r))),
      unit: h('input', { id: 'u-unit', maxlength: 200, autocomplete: 'off' }),
      registration: h('input', { id: 'u-reg', maxlength: 200, autocomplete: 'off' }),
    };
    const add = h('form', { class: 'request', 'aria-label': t('users.add'), onsubmit: act('POST', '/v1/users', () => ({
      id: inputs.id.value.trim(), name: inputs.name.value.trim(), role: inputs.role.value,
      unit: inputs.unit.value.trim(), registration: inputs.registration.value.trim() }), again) },
    field('u-id', t('col.id'), inputs.id), field('u-name', t('col.name'), inputs.name), field('u-role', t('col.role'), inputs.role),
    field('u-unit', t('col.unit'), inputs.unit), field('u-reg', t('col.registration'), inputs.registration),
    h('div', { class: 'formbar' }, h('button', { type: 'submit', class: 'primary' }, t('users.add'))));
    return [add, table(t('users.title'), cols, rows.map((u) => h('tr', {}, cells(cols, [u.name || u.id, u.role, u.unit, u.registration,
      u.active ? t('yes') : t('no'),
      h('button', { type: 'button', onclick: act('PATCH', `/v1/users/${encodeURIComponent(u.id)}`, () => ({ active: !u.active }), again) },
        u.active ? t('deactivate') : t('activate'))]))))];
  });
}

function cabinets() {
  return listPage('cab.title', () => all('/v1/cabinets'), (rows, again) => {
    const cols = [t('col.code'), t('col.name'), t('col.unit'), t('col.driver'), t('col.address'), t('col.sources')];
    return table(t('cab.title'), cols, rows.map((c) => {
      const id = `rs-${c.id}`;
      const sources = h('input', { id, value: (c.report_sources || []).join(', '), autocomplete: 'off' });
      const form = h('form', { class: 'actions', onsubmit: act('PUT', `/v1/cabinets/${c.id}/report-sources`, () => ({
        report_sources: sources.value.split(',').map((x) => x.trim()).filter(Boolean) }), again) },
      h('label', { for: id, class: 'muted' }, t('col.sources')), sources, h('button', { type: 'submit' }, t('save')));
      return h('tr', {}, cells(cols, [c.code, c.name, c.unit, c.driver, c.address || '', form]));
    }));
  });
}

const controlledLists = ['', 'A1', 'A2', 'A3', 'B1', 'B2', 'C1', 'C2', 'C3', 'C4', 'C5'];

function meds() {
  return listPage('med.title', () => all('/v1/medications'), (rows, again) => {
    const cols = [t('col.code'), t('col.name'), t('col.strength'), t('col.form'), t('col.controlled')];
    return [h('p', {}, h('a', { href: '/v1/controlled/register?format=csv', download: 'register.csv' }, t('register'))),
      table(t('med.title'), cols, rows.map((m) => {
        const id = `cl-${m.id}`;
        const list = h('select', { id }, controlledLists.map((l) => h('option', { value: l, selected: l === (m.controlled_list || '') }, l || '—')));
        const form = h('form', { class: 'actions', onsubmit: act('PATCH', `/v1/medications/${m.id}`, () => ({ controlled_list: list.value }), again) },
          h('label', { for: id, class: 'muted' }, t('col.controlled')), list, h('button', { type: 'submit' }, t('save')));
        return h('tr', {}, cells(cols, [m.code, m.name, m.strength, m.form, form]));
      }))];
  });
}

export const pages = {
  overrides: () => overrides(),
  discrepancies: () => discrepancies(),
  refills: () => refills(),
  stock: () => stock(),
  users: () => users(),
  cabinets: () => cabinets(),
  medications: () => meds(),
};
