-- name: InsertPendingLoad :one
-- InsertPendingLoad records a load of a controlled medication that waits for its witness.
INSERT INTO pending_loads (cabinet_id, medication_id, quantity, loaded_by, loaded_role)
VALUES (@cabinet_id, @medication_id, @quantity, @loaded_by, @loaded_role)
RETURNING *;

-- name: GetPendingLoad :one
-- GetPendingLoad returns one load that needed a witness.
SELECT * FROM pending_loads
WHERE id = @id;

-- name: LockPendingLoad :one
-- LockPendingLoad returns one load that needed a witness and locks it until the transaction ends.
SELECT * FROM pending_loads
WHERE id = @id
FOR UPDATE;

-- name: WitnessPendingLoad :one
-- WitnessPendingLoad records who witnessed a pending load, and the movement it became.
UPDATE pending_loads
SET status = 'witnessed', witness_id = @witness_id, witnessed_at = now(), movement_id = @movement_id
WHERE id = @id AND status = 'pending_witness'
RETURNING *;
