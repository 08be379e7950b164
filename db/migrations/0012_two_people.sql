-- Two people who are really two, and raw reports kept no longer than needed (issue 17).
--
-- Witnessed loads. A load of a controlled medication is recorded as pending_witness by who
-- loads; only when a second person confirms it with their own token do the stock and the
-- register change (the movement's witness_id is then that person's user id, not a name
-- typed by the loader).
--
-- Raw HL7. cabinet_inbox.raw keeps a report as received for whoever must look at it; once
-- it is settled and older than the retention (PYXIS_INBOX_RAW_RETENTION) it is blanked, and
-- the parsed report (report, kind, outcome) stays.

CREATE TYPE load_status AS ENUM ('pending_witness', 'witnessed');

CREATE TABLE pending_loads (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cabinet_id    bigint NOT NULL REFERENCES cabinets (id),
    medication_id bigint NOT NULL REFERENCES medications (id),
    quantity      integer NOT NULL CHECK (quantity > 0),
    loaded_by     text NOT NULL CHECK (loaded_by <> ''),
    loaded_role   text NOT NULL,
    status        load_status NOT NULL DEFAULT 'pending_witness',
    created_at    timestamptz NOT NULL DEFAULT now(),
    witness_id    text,
    witnessed_at  timestamptz,
    movement_id   bigint REFERENCES stock_movements (id),
    CONSTRAINT pending_loads_witnessed CHECK (
        (status = 'witnessed') = (witness_id IS NOT NULL AND witnessed_at IS NOT NULL AND movement_id IS NOT NULL)),
    CONSTRAINT pending_loads_two_people CHECK (witness_id IS NULL OR witness_id <> loaded_by)
);
CREATE INDEX pending_loads_open ON pending_loads (cabinet_id, id) WHERE status = 'pending_witness';

-- The purge finds what still holds raw text among settled reports.
CREATE INDEX cabinet_inbox_raw_kept ON cabinet_inbox (received_at) WHERE raw <> '' AND state <> 'pending';
