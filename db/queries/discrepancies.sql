-- name: InsertDiscrepancy :one
-- InsertDiscrepancy records an open discrepancy and returns its id.
INSERT INTO discrepancies (cabinet_id, medication_id, kind, expected, actual, details)
VALUES (@cabinet_id, @medication_id, @kind, sqlc.narg('expected'), sqlc.narg('actual'), @details)
RETURNING id;

-- name: GetDiscrepancy :one
-- GetDiscrepancy returns one discrepancy with its cabinet's and medication's codes.
SELECT d.id, d.cabinet_id, c.code AS cabinet_code, d.medication_id, m.code AS medication_code,
       m.name AS medication_name, d.kind, d.expected, d.actual, d.details, d.status,
       d.created_at, d.resolved_at, d.resolved_by, d.resolution
FROM discrepancies d
JOIN cabinets c ON c.id = d.cabinet_id
JOIN medications m ON m.id = d.medication_id
WHERE d.id = @id;

-- name: ListDiscrepancies :many
-- ListDiscrepancies returns discrepancies newest first, optionally only those of one status or cabinet.
SELECT d.id, d.cabinet_id, c.code AS cabinet_code, d.medication_id, m.code AS medication_code,
       m.name AS medication_name, d.kind, d.expected, d.actual, d.details, d.status,
       d.created_at, d.resolved_at, d.resolved_by, d.resolution
FROM discrepancies d
JOIN cabinets c ON c.id = d.cabinet_id
JOIN medications m ON m.id = d.medication_id
WHERE (sqlc.narg('status')::discrepancy_status IS NULL OR d.status = sqlc.narg('status')::discrepancy_status)
  AND (sqlc.narg('cabinet_id')::bigint IS NULL OR d.cabinet_id = sqlc.narg('cabinet_id')::bigint)
ORDER BY d.created_at DESC, d.id DESC
LIMIT @max_rows;

-- name: ResolveDiscrepancy :one
-- ResolveDiscrepancy closes an open discrepancy with a resolution; it returns no row when it is not open.
UPDATE discrepancies
SET status = 'resolved',
    resolved_at = now(),
    resolved_by = @resolved_by,
    resolution = @resolution
WHERE id = @id
  AND status = 'open'
RETURNING cabinet_id, medication_id;
