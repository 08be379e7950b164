-- Stock keeping: the stock-movement ledger, refill tasks, discrepancies, and the cabinet messages
-- already applied.
--
-- stock_movements is the ledger every change of cabinet_stock.on_hand is written to, in the same
-- transaction as the change: the sum of a pocket's quantities equals its on_hand, and the
-- controlled-substance register is built from it. Counts are written too (quantity 0), because a
-- register records them. Like audit_log it is append-only.
--
-- cabinet_messages makes cabinet reports idempotent: a report is applied in the transaction that
-- inserts its (cabinet, message control id), so a resent report finds its row and changes nothing.
-- stock_movements.cabinet_message_id repeats the id of the report that caused a movement, unique
-- per cabinet, so even a bug in that claim could not count one report twice.

CREATE TYPE stock_movement_kind AS ENUM (
    'loaded', 'counted', 'dispensed', 'returned', 'wasted', 'unloaded', 'adjusted'
);
CREATE TYPE stock_movement_source AS ENUM ('api', 'cabinet', 'workflow');
CREATE TYPE refill_status AS ENUM ('open', 'done', 'cancelled');
CREATE TYPE discrepancy_kind AS ENUM ('count_mismatch', 'unwitnessed_controlled_waste');
CREATE TYPE discrepancy_status AS ENUM ('open', 'resolved');

-- A refill task asks technicians to bring one pocket back to its par level. The Restock workflow
-- named in workflow_id opens it and completes it; at most one is open per pocket.
CREATE TABLE refill_tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    status        refill_status NOT NULL DEFAULT 'open',
    -- par_level - on_hand when the task was opened.
    requested_qty integer NOT NULL CHECK (requested_qty > 0),
    loaded_qty    integer CHECK (loaded_qty >= 0),
    workflow_id   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    completed_by  text,
    CONSTRAINT refill_done_has_quantity CHECK (status <> 'done' OR loaded_qty IS NOT NULL),
    CONSTRAINT refill_closed_has_time CHECK ((status = 'open') = (completed_at IS NULL))
);
CREATE UNIQUE INDEX refill_tasks_one_open ON refill_tasks (cabinet_id, medication_id) WHERE status = 'open';
CREATE INDEX refill_tasks_status ON refill_tasks (status, created_at DESC, id DESC);

CREATE TABLE stock_movements (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- When it happened: the cabinet's event time for a cabinet report, otherwise the commit's now().
    at                 timestamptz NOT NULL DEFAULT now(),
    cabinet_id         bigint NOT NULL REFERENCES cabinets (id),
    medication_id      bigint NOT NULL REFERENCES medications (id),
    kind               stock_movement_kind NOT NULL,
    -- The signed change of on_hand; 0 for a count.
    quantity           integer NOT NULL,
    on_hand_after      integer NOT NULL CHECK (on_hand_after >= 0),
    request_id         text,
    actor_id           text NOT NULL,
    actor_role         text NOT NULL,
    witness_id         text,
    source             stock_movement_source NOT NULL,
    cabinet_message_id text,
    refill_task_id     bigint REFERENCES refill_tasks (id),
    -- Context: drawer and pocket, the count and what was expected, a resolution's reason.
    details            jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT stock_movements_message_once UNIQUE (cabinet_id, cabinet_message_id),
    CONSTRAINT stock_movements_sign CHECK (
        CASE kind
            WHEN 'loaded' THEN quantity > 0
            WHEN 'returned' THEN quantity > 0
            WHEN 'dispensed' THEN quantity < 0
            WHEN 'wasted' THEN quantity < 0
            WHEN 'unloaded' THEN quantity < 0
            WHEN 'counted' THEN quantity = 0
            ELSE true
        END)
);
CREATE INDEX stock_movements_pocket ON stock_movements (cabinet_id, medication_id, id);
CREATE INDEX stock_movements_request ON stock_movements (request_id) WHERE request_id IS NOT NULL;

CREATE FUNCTION stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_movements is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER stock_movements_no_update BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only();

-- A discrepancy is something a pharmacist must look at: a count that differs from on_hand
-- (expected = on_hand, actual = the count), or a controlled drug wasted without a witness
-- (expected and actual empty; details say how much, by whom, and the movement).
CREATE TABLE discrepancies (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    kind          discrepancy_kind NOT NULL,
    expected      integer,
    actual        integer,
    details       jsonb NOT NULL DEFAULT '{}',
    status        discrepancy_status NOT NULL DEFAULT 'open',
    created_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    resolved_by   text,
    resolution    text,
    CONSTRAINT discrepancy_resolved_complete CHECK (
        (status = 'open') = (resolved_at IS NULL)
        AND (status = 'open' OR (resolved_by IS NOT NULL AND resolution IS NOT NULL AND resolution <> '')))
);
CREATE INDEX discrepancies_status ON discrepancies (status, created_at DESC, id DESC);

CREATE TABLE cabinet_messages (
    cabinet_id         bigint NOT NULL REFERENCES cabinets (id),
    message_control_id text NOT NULL CHECK (message_control_id <> ''),
    -- The report's transaction: ZPM-1 (V, R, W, L, U, C).
    kind               text NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cabinet_id, message_control_id)
);
