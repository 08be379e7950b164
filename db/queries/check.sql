-- Queries of the invariant checker (pyxis check): each returns the rows that break one rule,
-- so a healthy system returns none.

-- name: CheckPockets :many
-- CheckPockets returns pockets whose reserved is not the sum of their held reservations, whose
-- on_hand is not the sum of their ledger, or whose levels are out of bounds.
WITH held AS (
    SELECT cabinet_id, medication_id, SUM(quantity - consumed)::integer AS held
    FROM reservations WHERE state = 'held'
    GROUP BY cabinet_id, medication_id
), ledger AS (
    SELECT cabinet_id, medication_id, SUM(quantity)::integer AS balance
    FROM stock_movements
    GROUP BY cabinet_id, medication_id
)
SELECT s.cabinet_id, s.medication_id, s.on_hand, s.reserved,
       COALESCE(h.held, 0)::integer AS held, COALESCE(l.balance, 0)::integer AS balance
FROM cabinet_stock s
LEFT JOIN held h USING (cabinet_id, medication_id)
LEFT JOIN ledger l USING (cabinet_id, medication_id)
WHERE (sqlc.narg('cabinet_ids')::bigint[] IS NULL OR s.cabinet_id = ANY (sqlc.narg('cabinet_ids')::bigint[]))
  AND (s.reserved <> COALESCE(h.held, 0) OR s.on_hand <> COALESCE(l.balance, 0)
       OR s.reserved < 0 OR s.reserved > s.on_hand)
ORDER BY s.cabinet_id, s.medication_id;

-- name: CheckRequestSummaries :many
-- CheckRequestSummaries returns every request of the projection (of the given cabinets), with
-- what the stock says of it: the units its dispensed movements took per request, and how many
-- of its reservations are still held.
SELECT r.id, r.cabinet_id, r.status, r.seq, r.updated_at, r.approval_deadline, r.withdrawal_deadline,
       COALESCE((SELECT -SUM(m.quantity) FROM stock_movements m WHERE m.request_id = r.id AND m.kind = 'dispensed'), 0)::integer AS dispensed,
       COALESCE((SELECT SUM(x.quantity - x.consumed) FROM reservations x WHERE x.request_id = r.id AND x.state = 'held'), 0)::integer AS held,
       COALESCE((SELECT SUM(x.quantity) FROM reservations x WHERE x.request_id = r.id), 0)::integer AS reserved_total,
       COALESCE((SELECT SUM((d.details->>'not_in_ledger')::integer) FROM discrepancies d
                 WHERE d.details->>'request_id' = r.id AND d.details ? 'not_in_ledger'), 0)::integer AS not_in_ledger,
       COALESCE((SELECT SUM((v->>'quantity')::integer) FROM request_transitions t, jsonb_array_elements(t.vended) v
                 WHERE t.request_id = r.id AND t.vended IS NOT NULL), -1)::integer AS vended
FROM medication_requests r
WHERE sqlc.narg('cabinet_ids')::bigint[] IS NULL OR r.cabinet_id = ANY (sqlc.narg('cabinet_ids')::bigint[])
ORDER BY r.created_at, r.id;

-- name: CheckInbox :one
-- CheckInbox counts the cabinet reports given up on, and those pending longer than a while.
SELECT count(*) FILTER (WHERE state = 'failed')::bigint AS failed,
       count(*) FILTER (WHERE state = 'pending' AND received_at < @pending_before)::bigint AS overdue
FROM cabinet_inbox
WHERE sqlc.narg('cabinet_ids')::bigint[] IS NULL OR cabinet_id = ANY (sqlc.narg('cabinet_ids')::bigint[]);

-- name: InboxOutcomes :many
-- InboxOutcomes counts the cabinet reports by state and outcome (state/outcome), for the
-- fault scenarios' notes.
SELECT (state::text || '/' || outcome)::text AS outcome, count(*)::bigint AS reports
FROM cabinet_inbox
GROUP BY 1
ORDER BY 1;
