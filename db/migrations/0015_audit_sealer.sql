-- The audit chain off the hot path.
--
-- Until now every audited transaction locked audit_chain_head (migration 0003) and chained
-- its entry in-row, so all audited transactions waited for one another until commit. From
-- now on a business transaction only inserts its entry, durable and append-only in the same
-- transaction as the change it records, but not yet chained; an AFTER INSERT trigger queues
-- its id in audit_pending. One sealer (db.AuditStore.RunSealer; the leader of an advisory
-- lock among the api and worker processes) then chains the queued entries in the order it
-- finds them committed, within a second: one audit_seal row per entry holding its chain
-- position (seq), the hash of the one before (prev_hash) and its own hash, computed over the
-- entry's content exactly as the in-row hash was (db/audit.go, auditHash). It writes the
-- seals, moves the head and empties the queue in one transaction per batch, holding the head
-- lock only for that transaction.
--
-- The chain continues from the head as it is: entries chained in-row before this migration
-- (and by a process of the previous version still running while this one rolls out, which
-- takes the same head lock) keep their seq, prev_hash and hash, and the first seal links to
-- the last of them. Verification walks in-row and sealed entries together in seq order.
--
-- audit_pending is the sealer's work queue, nothing more: deleting from it (the application
-- role may, since the sealer does) leaves an entry unsealed, which verification and
-- `pyxis check` report once it has waited longer than 5 seconds. What proves the content is
-- audit_seal, append-only like audit_log: INSERT and SELECT for pyxis_app, and a trigger
-- against everyone else.

-- An unchained entry after the legacy ones is now how every entry starts.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_chained;

-- When the database received the entry (at is the caller's business time, which may be
-- earlier): how long an entry has waited for its seal is measured from here. Existing rows
-- get the time of this migration, without a rewrite (a stable default is stored once).
ALTER TABLE audit_log ADD COLUMN written_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE audit_log ALTER COLUMN written_at SET DEFAULT clock_timestamp();

CREATE TABLE audit_pending (
    entry_id bigint PRIMARY KEY
);

CREATE TABLE audit_seal (
    entry_id  bigint PRIMARY KEY REFERENCES audit_log (id),
    seq       bigint NOT NULL UNIQUE CHECK (seq > 0),
    prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash      bytea NOT NULL CHECK (octet_length(hash) = 32),
    sealed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION audit_log_queue_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (entry_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;
-- Entries chained in-row (by a process of the previous version) need no seal.
CREATE TRIGGER audit_log_queue_seal AFTER INSERT ON audit_log
    FOR EACH ROW WHEN (NEW.hash IS NULL) EXECUTE FUNCTION audit_log_queue_seal();

CREATE FUNCTION audit_seal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_seal is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_seal_no_update BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION audit_seal_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_seal_append_only();

-- Migration 0003's default privileges granted pyxis_app UPDATE and DELETE on new tables.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_seal FROM pyxis_app, PUBLIC;
REVOKE UPDATE, TRUNCATE ON audit_pending FROM pyxis_app, PUBLIC;

-- audit_chain is the chain in seq order: entries chained in-row, and sealed entries with
-- their seal. A seal whose entry is gone (deleted with the triggers off) keeps its row here,
-- with present false (and empty content), so verification reports it.
CREATE VIEW audit_chain AS
    SELECT a.seq, a.id, true AS present, a.at, a.actor_id, a.actor_role, a.action, a.request_id,
           a.details, a.prev_hash, a.hash
    FROM audit_log a
    WHERE a.seq IS NOT NULL
    UNION ALL
    SELECT s.seq, s.entry_id, a.id IS NOT NULL, coalesce(a.at, 'epoch'), coalesce(a.actor_id, ''),
           coalesce(a.actor_role, ''), coalesce(a.action, ''), a.request_id, coalesce(a.details, '{}'),
           s.prev_hash, s.hash
    FROM audit_seal s
    LEFT JOIN audit_log a ON a.id = s.entry_id;
