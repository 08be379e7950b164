-- name: InsertRefillTask :one
-- InsertRefillTask opens a refill task for a pocket unless one is open; then it returns no row.
INSERT INTO refill_tasks (cabinet_id, medication_id, requested_qty, workflow_id)
VALUES (@cabinet_id, @medication_id, @requested_qty, @workflow_id)
ON CONFLICT (cabinet_id, medication_id) WHERE status = 'open' DO NOTHING
RETURNING id;

-- name: OpenRefillTaskID :one
-- OpenRefillTaskID returns the id of the open refill task of a pocket.
SELECT id FROM refill_tasks
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
  AND status = 'open';

-- name: GetRefillTask :one
-- GetRefillTask returns one refill task with its cabinet's and medication's codes.
SELECT t.id, t.cabinet_id, c.code AS cabinet_code, t.medication_id, m.code AS medication_code,
       m.name AS medication_name, t.status, t.requested_qty, t.loaded_qty, t.workflow_id,
       t.created_at, t.completed_at, t.completed_by
FROM refill_tasks t
JOIN cabinets c ON c.id = t.cabinet_id
JOIN medications m ON m.id = t.medication_id
WHERE t.id = @id;

-- name: ListRefillTasks :many
-- ListRefillTasks returns refill tasks newest first, optionally only those of one status or cabinet.
SELECT t.id, t.cabinet_id, c.code AS cabinet_code, t.medication_id, m.code AS medication_code,
       m.name AS medication_name, t.status, t.requested_qty, t.loaded_qty, t.workflow_id,
       t.created_at, t.completed_at, t.completed_by
FROM refill_tasks t
JOIN cabinets c ON c.id = t.cabinet_id
JOIN medications m ON m.id = t.medication_id
WHERE (sqlc.narg('status')::refill_status IS NULL OR t.status = sqlc.narg('status')::refill_status)
  AND (sqlc.narg('cabinet_id')::bigint IS NULL OR t.cabinet_id = sqlc.narg('cabinet_id')::bigint)
ORDER BY t.created_at DESC, t.id DESC
LIMIT @max_rows;

-- name: CloseRefillTask :one
-- CloseRefillTask moves an open refill task to done or cancelled; it returns no row when the task is not open.
UPDATE refill_tasks
SET status = @status,
    loaded_qty = sqlc.narg('loaded_qty'),
    completed_at = now(),
    completed_by = @completed_by
WHERE id = @id
  AND status = 'open'
RETURNING cabinet_id, medication_id;
