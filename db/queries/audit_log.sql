-- name: LockAuditHead :one
-- LockAuditHead reads the head of the audit chain and locks it until the transaction ends.
-- Only the sealer takes it (and writers of the version before migration 0015), so seals are
-- chained one batch at a time and the chain never forks.
SELECT seq, hash FROM audit_chain_head FOR UPDATE;

-- name: AdvanceAuditHead :exec
-- AdvanceAuditHead moves the chain head to the entry just sealed.
UPDATE audit_chain_head SET seq = @seq, hash = @hash;

-- name: InsertAudit :execrows
-- InsertAudit appends an audit entry, not yet chained: a trigger queues it for the sealer.
-- An entry whose idem_key was already written is skipped (0 rows).
INSERT INTO audit_log (at, actor_id, actor_role, action, request_id, details, idem_key)
VALUES (@at, @actor_id, @actor_role, @action, sqlc.narg('request_id'), @details, sqlc.narg('idem_key'))
ON CONFLICT (idem_key) DO NOTHING;

-- name: ListAuditToSeal :many
-- ListAuditToSeal returns the queued entries that still need a seal, oldest id first.
SELECT a.id, a.at, a.actor_id, a.actor_role, a.action, a.request_id, a.details
FROM audit_pending p
JOIN audit_log a ON a.id = p.entry_id
WHERE a.hash IS NULL
  AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.entry_id = p.entry_id)
ORDER BY p.entry_id
LIMIT @max_rows;

-- name: InsertAuditSeals :exec
-- InsertAuditSeals chains a batch of entries: one seal per entry, the arrays side by side.
INSERT INTO audit_seal (entry_id, seq, prev_hash, hash)
SELECT unnest(@entry_ids::bigint[]), unnest(@seqs::bigint[]), unnest(@prev_hashes::bytea[]), unnest(@hashes::bytea[]);

-- name: DeleteAuditPending :exec
-- DeleteAuditPending takes sealed entries off the sealer's queue.
DELETE FROM audit_pending WHERE entry_id = ANY(@entry_ids::bigint[]);

-- name: UnsealedAudit :one
-- UnsealedAudit counts the entries after the legacy ones that are neither chained in-row
-- nor sealed and were written at least older_than_seconds ago (by the database's clock), with
-- the first of them and how long the oldest has waited.
SELECT count(*) AS unsealed, coalesce(min(a.id), 0)::bigint AS first_id, coalesce(extract(epoch FROM clock_timestamp() - min(a.written_at)), 0)::float8 AS oldest_age_seconds
FROM audit_log a, audit_chain_head h
WHERE a.id > h.legacy_through_id
  AND a.hash IS NULL
  AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.entry_id = a.id)
  AND a.written_at <= clock_timestamp() - make_interval(secs => @older_than_seconds::float8);

-- name: ListAudit :many
-- ListAudit returns the audit entries of one request in the order they were written.
SELECT * FROM audit_log
WHERE request_id = @request_id
ORDER BY id;

-- name: GetAuditChainInfo :one
-- GetAuditChainInfo returns the chain head, the last legacy (unchained) entry id, how many
-- legacy entries there are and the first of them, and the seal of the legacy entries
-- recomputed now (it must equal the chain's genesis hash).
SELECT h.seq, h.hash, h.legacy_through_id, audit_legacy_seal(h.legacy_through_id)::bytea AS legacy_seal,
       l.entries AS legacy_entries, l.first_id AS first_legacy_id
FROM audit_chain_head h,
     LATERAL (SELECT count(*) AS entries, coalesce(min(id), 0)::bigint AS first_id
              FROM audit_log WHERE id <= h.legacy_through_id) l;

-- name: ListAuditChain :many
-- ListAuditChain pages through the chain in seq order, for verification: entries chained
-- in-row and sealed entries, and seals whose entry is missing (present false).
SELECT seq, id, present, at, actor_id, actor_role, action, request_id, details, prev_hash, hash
FROM audit_chain
WHERE seq > @after_seq::bigint
ORDER BY seq
LIMIT @max_rows;

-- name: ListAuditByAction :many
-- ListAuditByAction returns the latest audit entries of one action, newest first.
SELECT * FROM audit_log
WHERE action = @action
ORDER BY id DESC
LIMIT @max_rows;
