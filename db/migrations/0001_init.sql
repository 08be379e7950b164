-- Initial schema: catalogue, cabinets and stock, the request projection, reservations and the audit log.
-- The stock invariant of DESIGN.md (0 <= reserved <= on_hand) is enforced here as well as in code, so a
-- bug in a query can never leave the ledger inconsistent: the statement fails instead.

CREATE TYPE user_role AS ENUM ('nurse', 'pharmacist', 'technician', 'admin');
CREATE TYPE cabinet_status AS ENUM ('online', 'offline', 'maintenance');
CREATE TYPE request_priority AS ENUM ('stat', 'urgent', 'routine');
CREATE TYPE request_status AS ENUM (
    'submitted', 'awaiting_approval', 'approved', 'ready_at_cabinet',
    'dispensed', 'rejected', 'cancelled', 'expired', 'failed'
);
CREATE TYPE reservation_state AS ENUM ('held', 'released', 'consumed');

CREATE TABLE users (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    role         user_role NOT NULL,
    -- Professional registration: COREN for nurses, CRF for pharmacists.
    registration text NOT NULL DEFAULT '',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE medications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE CHECK (code <> ''),
    name       text NOT NULL CHECK (name <> ''),
    strength   text NOT NULL DEFAULT '',
    form       text NOT NULL DEFAULT '',
    unit       text NOT NULL DEFAULT '',
    controlled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cabinets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE CHECK (code <> ''),
    name       text NOT NULL CHECK (name <> ''),
    unit       text NOT NULL DEFAULT '',
    status     cabinet_status NOT NULL DEFAULT 'online',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cabinet_stock (
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    on_hand       integer NOT NULL DEFAULT 0,
    reserved      integer NOT NULL DEFAULT 0,
    par_level     integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet_id, medication_id),
    CONSTRAINT stock_on_hand_nonnegative CHECK (on_hand >= 0),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved >= 0 AND reserved <= on_hand),
    CONSTRAINT stock_par_level_nonnegative CHECK (par_level >= 0)
);

-- medication_requests is a projection of each MedicationRequest workflow, written only by its
-- record-transition activity. seq is the number of the last transition applied, so a retried or
-- late write never moves a request backwards.
CREATE TABLE medication_requests (
    id             text PRIMARY KEY,
    requester_id   text NOT NULL,
    requester_name text NOT NULL DEFAULT '',
    patient_mrn    text NOT NULL,
    patient_bed    text NOT NULL DEFAULT '',
    cabinet_id     bigint NOT NULL REFERENCES cabinets (id),
    priority       request_priority NOT NULL,
    status         request_status NOT NULL,
    reason         text NOT NULL DEFAULT '',
    seq            integer NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX medication_requests_newest ON medication_requests (created_at DESC, id DESC);
CREATE INDEX medication_requests_status ON medication_requests (status, created_at DESC, id DESC);
CREATE INDEX medication_requests_cabinet ON medication_requests (cabinet_id, created_at DESC, id DESC);
-- Serves a nurse's own list ("my requests"), filtered by requester_id.
CREATE INDEX medication_requests_requester ON medication_requests (requester_id, created_at DESC, id DESC);

CREATE TABLE medication_request_lines (
    request_id    text NOT NULL REFERENCES medication_requests (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    quantity      integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (request_id, medication_id)
);

-- A reservation is keyed by (request, medication): that key is what makes reserve, release and
-- consume idempotent under Temporal's activity retries.
CREATE TABLE reservations (
    request_id    text NOT NULL,
    medication_id bigint NOT NULL REFERENCES medications (id),
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    quantity      integer NOT NULL CHECK (quantity > 0),
    state         reservation_state NOT NULL DEFAULT 'held',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, medication_id)
);
CREATE INDEX reservations_held ON reservations (cabinet_id, medication_id) WHERE state = 'held';

-- Requests created with an Idempotency-Key: a retry with the same key (per requester) gets the
-- same request id, so it can never start a second workflow. body_hash detects a key reused for a
-- different request.
CREATE TABLE idempotency_keys (
    requester_id text NOT NULL,
    key          text NOT NULL,
    request_id   text NOT NULL,
    body_hash    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (requester_id, key)
);

-- audit_log is append-only. idem_key makes a retried write land once.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor_id   text NOT NULL,
    actor_role text NOT NULL,
    action     text NOT NULL,
    request_id text,
    details    jsonb NOT NULL DEFAULT '{}',
    idem_key   text UNIQUE
);
CREATE INDEX audit_log_request ON audit_log (request_id, id) WHERE request_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
