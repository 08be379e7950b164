// The catalogue and the cabinets, read once per page load: rows name medications by id.
import { all } from './dom.js';

let meds = null;
let cabinets = null;

export async function medications() {
  if (!meds) meds = new Map((await all('/v1/medications')).map((m) => [m.id, m]));
  return meds;
}

export async function cabinetList() {
  if (!cabinets) cabinets = await all('/v1/cabinets');
  return cabinets;
}

// medLabel names a medication with its strength: "Morphine 10 mg/ml".
export function medLabel(m) {
  if (!m) return '?';
  return [m.name, m.strength].filter(Boolean).join(' ');
}

// itemsText says what a request holds: "2 × Morphine 10 mg/ml; 1 × ...".
export function itemsText(items, byId) {
  return items.map((i) => `${i.quantity} × ${medLabel(byId.get(i.medication_id))}`).join('; ');
}
