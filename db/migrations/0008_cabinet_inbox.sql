-- Every vend accounted for, and nothing a cabinet reported lost.
--
-- Inbox. The HL7 listener writes each report it accepts here before it acknowledges it, and
-- applies it afterwards, in order per cabinet: a crash between the AA and the application
-- loses nothing, and the cabinet gets its AA within a second however busy the workflows are.
-- (cabinet_id, message_control_id) is the report's identity; content_hash tells a resend (the
-- same report again: acknowledged, applied once) from a different report under a reused id
-- (a cabinet whose counter was reset: refused AE and audited as a sequence conflict).
--
-- Vends per line. A request's reservations are consumed by what each vend reports, line by
-- line (reservations.consumed), not all at once; what differs from the order (short, over, a
-- drug not ordered) opens a discrepancy.
--
-- Unmatched vends. A vend for no known order (a pharmacy-system order, an override, a vend
-- without an order), or for a request that no longer waits at the cabinet, is accepted and
-- recorded as a dispense without a request, and opens an override review for a pharmacist.
--
-- Report sources. A cabinet's reports are believed only from the networks its row lists
-- (report_sources, CIDRs; empty: nobody), or, over TLS, from a client certificate whose
-- subject common name is the cabinet's code.

CREATE TYPE inbox_state AS ENUM ('pending', 'applied', 'failed');

CREATE TABLE cabinet_inbox (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cabinet_id         bigint NOT NULL REFERENCES cabinets (id),
    message_control_id text NOT NULL CHECK (message_control_id <> ''),
    -- SHA-256 of the decoded report (cabinet.Event as JSON).
    content_hash       bytea NOT NULL CHECK (octet_length(content_hash) = 32),
    -- The report's transaction: ZPM-1 (V, R, W, L, U, C).
    kind               text NOT NULL,
    report             jsonb NOT NULL,
    -- The message as received, for whoever must look at it later.
    raw                text NOT NULL DEFAULT '',
    peer               text NOT NULL DEFAULT '',
    received_at        timestamptz NOT NULL DEFAULT now(),
    state              inbox_state NOT NULL DEFAULT 'pending',
    attempts           integer NOT NULL DEFAULT 0,
    -- When a pending report is tried again after a failure that may pass.
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    last_error         text NOT NULL DEFAULT '',
    -- What applying it did: applied, duplicate, unmatched, ...
    outcome            text NOT NULL DEFAULT '',
    settled_at         timestamptz,
    UNIQUE (cabinet_id, message_control_id),
    CONSTRAINT inbox_settled_has_time CHECK ((state = 'pending') = (settled_at IS NULL))
);
CREATE INDEX cabinet_inbox_pending ON cabinet_inbox (cabinet_id, id) WHERE state = 'pending';

ALTER TABLE reservations
    ADD COLUMN consumed integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT reservations_consumed_within CHECK (consumed >= 0 AND consumed <= quantity);

-- What each vend of a request dispensed, kept with its transition (medication_id, quantity),
-- and which report said so (a resent report is recognised by it).
ALTER TABLE request_transitions
    ADD COLUMN vended jsonb,
    ADD COLUMN report_id text NOT NULL DEFAULT '';

ALTER TYPE discrepancy_kind ADD VALUE 'short_vend';
ALTER TYPE discrepancy_kind ADD VALUE 'over_vend';
ALTER TYPE discrepancy_kind ADD VALUE 'wrong_medication';

CREATE TYPE override_status AS ENUM ('open', 'reviewed');

-- A dispense the cabinet reported without a request the system could match, for a pharmacist
-- to review (ISMP's override monitoring).
CREATE TABLE override_reviews (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    quantity      integer NOT NULL CHECK (quantity > 0),
    -- What the cabinet dispensed beyond what the ledger held unreserved (a count is due).
    not_in_ledger integer NOT NULL DEFAULT 0 CHECK (not_in_ledger >= 0),
    -- The order number the cabinet sent (ORC-2), as sent; '' for a vend without an order.
    order_ref     text NOT NULL DEFAULT '',
    -- Why it did not match: unknown_order, request_not_ready, ...
    cause         text NOT NULL,
    movement_id   bigint REFERENCES stock_movements (id),
    message_control_id text NOT NULL DEFAULT '',
    dispensed_by  text NOT NULL DEFAULT '',
    dispensed_at  timestamptz NOT NULL,
    status        override_status NOT NULL DEFAULT 'open',
    created_at    timestamptz NOT NULL DEFAULT now(),
    reviewed_at   timestamptz,
    reviewed_by   text,
    outcome       text,
    note          text,
    CONSTRAINT override_reviewed_complete CHECK (
        (status = 'open') = (reviewed_at IS NULL)
        AND (status = 'open' OR (reviewed_by IS NOT NULL AND outcome IN ('justified', 'not_justified'))))
);
CREATE INDEX override_reviews_status ON override_reviews (status, created_at DESC, id DESC);

ALTER TABLE cabinets ADD COLUMN report_sources cidr[] NOT NULL DEFAULT '{}';

-- The patient's name, when the request gives it (HL7 PID-5 on the cabinet's screen).
ALTER TABLE medication_requests
    ADD COLUMN patient_family text NOT NULL DEFAULT '',
    ADD COLUMN patient_given  text NOT NULL DEFAULT '';

-- When a catalogue entry last changed: the item master message a cabinet receives for the
-- change carries it, so a resend of the same change is recognised and a later one is not.
ALTER TABLE medications ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
