-- The projection answers reads of one request without waking its workflow, and the stock of a
-- request is settled once.
--
-- Reads. GET /v1/requests/{id} used to ask the workflow (a query, which under load waits for a
-- worker and a history replay). The projection now holds everything that answer shows: the
-- transitions with their actors, approval notes and reasons (request_transitions, written in
-- the same transaction as the transition's audit entry), the deadlines and how many approvals
-- the request needs. has_transitions marks rows whose transitions are all there: rows of
-- requests recorded before this migration lack their early transitions, and are still read
-- from the workflow.
--
-- Settlement. A release or a consume settles a request's stock for good (stock_settlements). A
-- reserve for a settled request reserves nothing, so a reserve attempt that outlives its
-- workflow (the run was cancelled while the attempt was still in the database) cannot leave a
-- reservation nobody will release.

ALTER TABLE medication_requests
    -- Why the request ended as it did (README, reason codes); reason holds the words.
    ADD COLUMN reason_code         text NOT NULL DEFAULT '',
    ADD COLUMN required_approvals  integer NOT NULL DEFAULT 1 CHECK (required_approvals BETWEEN 1 AND 2),
    ADD COLUMN approval_deadline   timestamptz,
    ADD COLUMN withdrawal_deadline timestamptz,
    ADD COLUMN has_transitions     boolean NOT NULL DEFAULT false;

-- One row per transition of a request; (request_id, seq) makes a retried write land once.
CREATE TABLE request_transitions (
    request_id  text NOT NULL REFERENCES medication_requests (id),
    seq         integer NOT NULL CHECK (seq > 0),
    from_status request_status,
    to_status   request_status NOT NULL,
    action      text NOT NULL CHECK (action <> ''),
    actor_id    text NOT NULL,
    actor_name  text NOT NULL DEFAULT '',
    actor_role  text NOT NULL,
    at          timestamptz NOT NULL,
    reason      text NOT NULL DEFAULT '',
    reason_code text NOT NULL DEFAULT '',
    -- A pharmacist's note on an approval.
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, seq)
);

CREATE TABLE stock_settlements (
    request_id text PRIMARY KEY,
    -- released or consumed: what ended the request's hold on stock.
    outcome    reservation_state NOT NULL CHECK (outcome <> 'held'),
    at         timestamptz NOT NULL DEFAULT now()
);
