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
  return { node: root, refresh, close() {} };
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
  }, (rows) => {
    const cols = [t('col.cabinet'), t('col.medication'), t('col.onhand'), t('col.reserved'), t('col.par')];
    return table(t('stock.title'), cols, rows.map(({ cab, s, med }) => h('tr', {}, cells(cols, [cab.code, medLabel(med), s.on_hand, s.reserved, s.par_level]))));
  });
}

function users() {
  return listPage('users.title', () => all('/v1/users'), (rows, again) => {
    const cols = [t('col.name'), t('col.role'), t('col.unit'), t('col.registration'), t('col.active'), t('col.actions')];
    return table(t('users.title'), cols, rows.map((u) => h('tr', {}, cells(cols, [u.name || u.id, u.role, u.unit, u.registration,
      u.active ? t('yes') : t('no'),
      h('button', { type: 'button', onclick: act('PATCH', `/v1/users/${encodeURIComponent(u.id)}`, () => ({ active: !u.active }), again) },
        u.active ? t('deactivate') : t('activate'))]))));
  });
}

function cabinets() {
  return listPage('cab.title', () => all('/v1/cabinets'), (rows) => {
    const cols = [t('col.code'), t('col.name'), t('col.unit'), t('col.driver'), t('col.address'), t('col.sources')];
    return table(t('cab.title'), cols, rows.map((c) => h('tr', {}, cells(cols, [c.code, c.name, c.unit, c.driver, c.address || '', (c.report_sources || []).join(', ')]))));
  });
}

function meds() {
  return listPage('med.title', () => all('/v1/medications'), (rows) => {
    const cols = [t('col.code'), t('col.name'), t('col.strength'), t('col.form'), t('col.controlled')];
    return [h('p', {}, h('a', { href: '/v1/controlled/register?format=csv', download: 'register.csv' }, t('register'))),
      table(t('med.title'), cols, rows.map((m) => h('tr', {}, cells(cols, [m.code, m.name, m.strength, m.form, m.controlled_list || '']))))];
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
