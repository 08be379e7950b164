-- name: InsertMovement :one
-- InsertMovement appends one change of a pocket's on_hand (or a count) to the stock ledger. A NULL at means now.
INSERT INTO stock_movements (
    at, cabinet_id, medication_id, kind, quantity, on_hand_after, request_id,
    actor_id, actor_role, witness_id, source, cabinet_message_id, refill_task_id, details
) VALUES (
    COALESCE(sqlc.narg('at')::timestamptz, now()), @cabinet_id, @medication_id, @kind, @quantity,
    @on_hand_after, sqlc.narg('request_id'), @actor_id, @actor_role, sqlc.narg('witness_id'), @source,
    sqlc.narg('cabinet_message_id'), sqlc.narg('refill_task_id'), @details
)
RETURNING *;

-- name: ListMovements :many
-- ListMovements returns the ledger of one pocket in the order it was written.
SELECT * FROM stock_movements
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
ORDER BY id;

-- name: MovementBalance :one
-- MovementBalance sums the ledger of one pocket; it equals the pocket's on_hand.
SELECT COALESCE(SUM(quantity), 0)::integer AS balance
FROM stock_movements
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id;

-- name: RequestVendReporters :many
-- RequestVendReporters returns who reported the vends of a request (the actors of its
-- dispensed movements), ordered by id.
SELECT DISTINCT actor_id
FROM stock_movements
WHERE request_id = @request_id AND kind = 'dispensed'
ORDER BY actor_id;
