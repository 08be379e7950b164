-- name: ListAccess :many
-- ListAccess returns access-log entries newest first, optionally filtered by actor, request and
-- a time range [from, to), starting below a cursor id.
SELECT * FROM access_log
WHERE (sqlc.narg('actor_id')::text IS NULL OR actor_id = sqlc.narg('actor_id')::text)
  AND (sqlc.narg('request_id')::text IS NULL OR request_ids @> ARRAY[sqlc.narg('request_id')::text])
  AND (sqlc.narg('from_at')::timestamptz IS NULL OR at >= sqlc.narg('from_at')::timestamptz)
  AND (sqlc.narg('to_at')::timestamptz IS NULL OR at < sqlc.narg('to_at')::timestamptz)
  AND (sqlc.narg('before_id')::bigint IS NULL OR id < sqlc.narg('before_id')::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: InsertAccessBatch :copyfrom
-- InsertAccessBatch appends several reads of patient data in one statement, and so in one
-- commit (AuditStore.LogAccess groups concurrent reads).
INSERT INTO access_log (actor_id, actor_role, action, endpoint, request_ids, client_ip, http_request_id, details)
VALUES (@actor_id, @actor_role, @action, @endpoint, @request_ids, @client_ip, @http_request_id, @details);
