-- name: InsertRequest :execrows
-- InsertRequest creates the projection row of a request unless it exists already.
INSERT INTO medication_requests (
    id, requester_id, requester_name, patient_mrn, patient_bed, cabinet_id,
    priority, status, reason, seq, created_at, updated_at
) VALUES (
    @id, @requester_id, @requester_name, @patient_mrn, @patient_bed, @cabinet_id,
    @priority, @status, @reason, @seq, @at, @at
)
ON CONFLICT (id) DO NOTHING;

-- name: InsertRequestLines :exec
-- InsertRequestLines stores the lines of a request from two parallel arrays of equal length.
INSERT INTO medication_request_lines (request_id, medication_id, quantity)
SELECT @request_id::text, unnest(@medication_ids::bigint[]), unnest(@quantities::integer[])
ON CONFLICT (request_id, medication_id) DO NOTHING;

-- name: AdvanceRequest :execrows
-- AdvanceRequest applies a transition to the projection only if it is newer than the last one applied.
UPDATE medication_requests
SET status = @status,
    reason = @reason,
    seq = @seq,
    updated_at = @at
WHERE id = @id
  AND seq < @seq;

-- name: RequestExists :one
-- RequestExists reports whether the projection has a row for the request.
SELECT EXISTS (SELECT 1 FROM medication_requests WHERE id = @id) AS exists;

-- name: GetRequest :one
-- GetRequest returns one request of the projection with its cabinet's code.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.cabinet_id,
       c.code AS cabinet_code, r.priority, r.status, r.reason, r.created_at, r.updated_at
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
WHERE r.id = @id;

-- name: ListRequests :many
-- ListRequests returns requests newest first, optionally filtered, starting after a (created_at, id) cursor.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.cabinet_id,
       c.code AS cabinet_code, r.priority, r.status, r.reason, r.created_at, r.updated_at
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
WHERE (sqlc.narg('status')::request_status IS NULL OR r.status = sqlc.narg('status')::request_status)
  AND (sqlc.narg('cabinet_id')::bigint IS NULL OR r.cabinet_id = sqlc.narg('cabinet_id')::bigint)
  AND (sqlc.narg('requester_id')::text IS NULL OR r.requester_id = sqlc.narg('requester_id')::text)
  AND (sqlc.narg('after_created_at')::timestamptz IS NULL
       OR (r.created_at, r.id) < (sqlc.narg('after_created_at')::timestamptz, sqlc.narg('after_id')::text))
ORDER BY r.created_at DESC, r.id DESC
LIMIT @max_rows;

-- name: ListRequestLines :many
-- ListRequestLines returns the lines of the given requests ordered by request and medication.
SELECT request_id, medication_id, quantity
FROM medication_request_lines
WHERE request_id = ANY (@request_ids::text[])
ORDER BY request_id, medication_id;
