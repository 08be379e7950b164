-- name: LockAuditHead :one
-- LockAuditHead reads the head of the audit chain and locks it until the transaction ends.
-- Every audit write takes this lock, last in its transaction, so entries are chained one at a
-- time and the chain never forks.
SELECT seq, hash FROM audit_chain_head FOR UPDATE;

-- name: AdvanceAuditHead :exec
-- AdvanceAuditHead moves the chain head to the entry just inserted.
UPDATE audit_chain_head SET seq = @seq, hash = @hash;

-- name: InsertAudit :execrows
-- InsertAudit appends a chained audit entry; an entry whose idem_key was already written is
-- skipped (0 rows), and the head must then stay where it is.
INSERT INTO audit_log (at, actor_id, actor_role, action, request_id, details, idem_key, seq, prev_hash, hash)
VALUES (@at, @actor_id, @actor_role, @action, sqlc.narg('request_id'), @details, sqlc.narg('idem_key'),
        @seq, @prev_hash, @hash)
ON CONFLICT (idem_key) DO NOTHING;

-- name: ListAudit :many
-- ListAudit returns the audit entries of one request in the order they were written.
SELECT * FROM audit_log
WHERE request_id = @request_id
ORDER BY id;

-- name: GetAuditChainInfo :one
-- GetAuditChainInfo returns the chain head, the last legacy (unchained) entry id, and the seal
-- of the legacy entries recomputed now (it must equal the chain's genesis hash).
SELECT seq, hash, legacy_through_id, audit_legacy_seal(legacy_through_id)::bytea AS legacy_seal
FROM audit_chain_head;

-- name: ListAuditChain :many
-- ListAuditChain pages through the whole audit log in id order, for verification.
SELECT id, at, actor_id, actor_role, action, request_id, details, seq, prev_hash, hash
FROM audit_log
WHERE id > @after_id
ORDER BY id
LIMIT @max_rows;

-- name: ListAuditByAction :many
-- ListAuditByAction returns the latest audit entries of one action, newest first.
SELECT * FROM audit_log
WHERE action = @action
ORDER BY id DESC
LIMIT @max_rows;
