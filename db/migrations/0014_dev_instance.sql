-- The dev stack's instance: one row naming the data folder this database belongs to.
--
-- Dev mode keeps its state in two places, a data folder (Temporal's SQLite file, the secrets)
-- and a database. Either can be deleted or pointed elsewhere without the other, and the two
-- then disagree without a word: requests the folder's Temporal never ran, stock reserved for
-- workflows it never knew. Dev mode writes one id to both and refuses to start when they
-- differ. Outside dev mode the table stays empty.

CREATE TABLE dev_instance (
    -- One row at most.
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         text NOT NULL CHECK (id <> ''),
    -- The data folder (absolute) that holds the same id, to name it in a refusal.
    dir        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
