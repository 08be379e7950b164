-- name: InsertAudit :exec
-- InsertAudit appends an audit entry; an entry whose idem_key was already written is skipped.
INSERT INTO audit_log (at, actor_id, actor_role, action, request_id, details, idem_key)
VALUES (@at, @actor_id, @actor_role, @action, sqlc.narg('request_id'), @details, sqlc.narg('idem_key'))
ON CONFLICT (idem_key) DO NOTHING;

-- name: ListAudit :many
-- ListAudit returns the audit entries of one request in the order they were written.
SELECT * FROM audit_log
WHERE request_id = @request_id
ORDER BY id;
