-- A tamper-evident audit trail, and the database role the application runs as.
--
-- Hash chain. Every audit entry written from now on carries its position in the chain (seq),
-- the hash of the entry before it (prev_hash) and its own hash: SHA-256 over a canonical
-- encoding of prev_hash, seq, at, actor, action, request and details (db/audit.go defines the
-- encoding; Store.VerifyAudit recomputes it). audit_chain_head holds the last seq and hash;
-- writers lock that one row (SELECT ... FOR UPDATE) in the transaction that inserts, so entries
-- are chained strictly one after another and the chain never forks, whatever the concurrency.
--
-- Entries written before this migration ("legacy" entries, id <= legacy_through_id) keep NULL
-- hashes: their canonical encoding cannot be computed here. Instead this migration seals them:
-- the chain's genesis hash is audit_legacy_seal() over all of them, so editing, adding or
-- deleting a legacy entry later breaks the seal, and VerifyAudit reports it.
--
-- Role. pyxis_app is a NOLOGIN role holding what the application needs: it may read and write
-- the working tables, but only SELECT and INSERT on audit_log. Operators run the API and the
-- worker as a LOGIN role that is a member of pyxis_app (README, Security); migrations run as
-- the owner. The append-only trigger stays as a second line against the owner itself.

ALTER TABLE audit_log
    ADD COLUMN seq       bigint UNIQUE,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea,
    ADD CONSTRAINT audit_log_chain_complete CHECK (
        (seq IS NULL) = (hash IS NULL) AND (hash IS NULL) = (prev_hash IS NULL)
        AND (hash IS NULL OR (octet_length(hash) = 32 AND octet_length(prev_hash) = 32 AND seq > 0)));

-- audit_legacy_seal digests the legacy entries (id <= through_id) in id order.
CREATE FUNCTION audit_legacy_seal(through_id bigint) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to('pyxis-audit-legacy-v1' || coalesce(string_agg(
        jsonb_build_array(
            id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            actor_id, actor_role, action, request_id, details, idem_key)::text,
        E'\n' ORDER BY id), ''), 'UTF8'))
    FROM audit_log
    WHERE id <= through_id
$$;

CREATE TABLE audit_chain_head (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq               bigint NOT NULL CHECK (seq >= 0),
    hash              bytea NOT NULL CHECK (octet_length(hash) = 32),
    legacy_through_id bigint NOT NULL
);

DO $$
DECLARE
    legacy bigint := (SELECT coalesce(max(id), 0) FROM audit_log);
BEGIN
    INSERT INTO audit_chain_head (seq, hash, legacy_through_id)
    VALUES (0, audit_legacy_seal(legacy), legacy);
    -- Every entry after the legacy ones must be chained.
    EXECUTE format('ALTER TABLE audit_log ADD CONSTRAINT audit_log_chained CHECK (hash IS NOT NULL OR id <= %s)', legacy);
END;
$$;

CREATE FUNCTION audit_chain_head_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_chain_head has exactly one row' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_chain_head_one_row BEFORE INSERT OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_fixed();

-- Roles are cluster-wide, and several databases of one cluster may migrate at once (tests do):
-- create it only if missing, and accept losing a race to another migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pyxis_app') THEN
        BEGIN
            CREATE ROLE pyxis_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END;
$$;

GRANT USAGE ON SCHEMA public TO pyxis_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pyxis_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO pyxis_app;
-- Tables and sequences of later migrations, created by the same (migrating) role.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pyxis_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO pyxis_app;

-- The audit trail is append-only for the application.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM pyxis_app, PUBLIC;
-- It advances the chain head, never adds or removes it.
REVOKE INSERT, DELETE, TRUNCATE ON audit_chain_head FROM pyxis_app, PUBLIC;
-- Only migrations write the migration ledger.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM pyxis_app, PUBLIC;
-- The stock-movement ledger (migration 0002), where present, is append-only as well.
DO $$
BEGIN
    IF to_regclass('stock_movements') IS NOT NULL THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON stock_movements FROM pyxis_app, PUBLIC;
    END IF;
END;
$$;
