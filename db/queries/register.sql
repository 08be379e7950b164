-- name: RegisterOpenings :many
-- RegisterOpenings returns every controlled medication (of one list, or all when list is NULL)
-- with its balance across all cabinets before the period starts, from the stock ledger.
SELECT m.id, m.code, m.name, m.controlled_list::text AS controlled_list,
       COALESCE(SUM(sm.quantity) FILTER (WHERE sm.at < @period_start), 0)::integer AS opening
FROM medications m
LEFT JOIN stock_movements sm ON sm.medication_id = m.id
WHERE m.controlled_list IS NOT NULL
  AND (sqlc.narg('list')::text IS NULL OR m.controlled_list = sqlc.narg('list')::text)
GROUP BY m.id
ORDER BY m.controlled_list, m.code;

-- name: RegisterMovements :many
-- RegisterMovements returns the ledger entries of controlled medications within the period,
-- in the order they happened.
SELECT sm.id, sm.at, sm.medication_id, sm.kind, sm.quantity, sm.request_id, sm.actor_id,
       sm.actor_role, sm.witness_id, sm.source, c.code AS cabinet_code
FROM stock_movements sm
JOIN medications m ON m.id = sm.medication_id
JOIN cabinets c ON c.id = sm.cabinet_id
WHERE m.controlled_list IS NOT NULL
  AND (sqlc.narg('list')::text IS NULL OR m.controlled_list = sqlc.narg('list')::text)
  AND sm.at >= @period_start AND sm.at < @period_end
ORDER BY m.controlled_list, m.code, sm.at, sm.id;
