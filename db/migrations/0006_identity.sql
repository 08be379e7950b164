-- Identity and patient data on a need-to-know basis.
--
-- Users directory. users (migration 0001) becomes the directory the API consults on every
-- request: a deactivated user's tokens are refused, the directory's role wins over a token's,
-- and a nurse's unit decides which requests she may read (those she created, and those of
-- cabinets of her unit). Cabinet interfaces that report through the API are principals too,
-- hence the role 'cabinet'. (ALTER TYPE ... ADD VALUE may run in a transaction since
-- PostgreSQL 12, as long as nothing in that transaction uses the new value.)
--
-- Access log. Every read of patient data (one request, a page of the list, a request's audit
-- trail, a codec decode) is recorded in access_log: who (id and role), what (action and
-- endpoint), when, which requests, from which client address, and the X-Request-ID. It is a
-- table of its own, not the hash-chained audit_log: a read must not wait for the chain's lock.
-- Like audit_log it is append-only, by grant for the application role and by trigger for
-- everyone else.

ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'cabinet';

ALTER TABLE users
    -- The hospital unit a nurse works on, as cabinets name it (cabinets.unit); '' for none.
    ADD COLUMN unit       text NOT NULL DEFAULT '',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT users_id_not_empty CHECK (id <> ''),
    ADD CONSTRAINT users_name_not_empty CHECK (name <> '');

-- A nurse's list reads requests of the cabinets of her unit.
CREATE INDEX cabinets_unit ON cabinets (unit) WHERE unit <> '';

CREATE TABLE access_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_id      text NOT NULL,
    actor_role    text NOT NULL,
    -- What was read: request.read, request.list, request.audit, codec.decode, access_log.read.
    action        text NOT NULL CHECK (action <> ''),
    -- The route that served it, such as "GET /v1/requests/:id".
    endpoint      text NOT NULL,
    -- The requests whose data the answer held (none for a codec decode).
    request_ids   text[] NOT NULL DEFAULT '{}',
    client_ip     text NOT NULL DEFAULT '',
    -- The X-Request-ID of the HTTP request, as in its log line.
    http_request_id text NOT NULL DEFAULT '',
    -- Context: a list's filter, how many payloads a decode held.
    details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX access_log_actor ON access_log (actor_id, id DESC);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_request_ids ON access_log USING gin (request_ids);

CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- Migration 0003's default privileges granted pyxis_app UPDATE and DELETE on new tables.
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM pyxis_app, PUBLIC;
