-- What an HL7 interface team needs of the content (issue 16).
--
-- Reports parked for review. A vend, a waste or a count happened in the room whatever the
-- report says, so the listener answers AA and keeps it. What cannot be applied as written
-- opens an override review with its cause: a medication the catalogue does not know
-- (unknown_medication: medication_id is NULL, reported_code says what the cabinet named), an
-- amount that is not a whole number (fractional_amount: reported_amount holds it exactly, the
-- ledger's integers cannot), a patient other than the order's (patient_mismatch) or units
-- other than the order's (unit_mismatch). The transaction says which report it was (V, W,
-- R, L, U, C); detail says what differed.
ALTER TABLE override_reviews
    ALTER COLUMN medication_id DROP NOT NULL,
    ADD COLUMN transaction     text NOT NULL DEFAULT 'V',
    ADD COLUMN reported_code   text NOT NULL DEFAULT '',
    ADD COLUMN reported_amount text NOT NULL DEFAULT '',
    ADD COLUMN reported_units  text NOT NULL DEFAULT '',
    ADD COLUMN detail          text NOT NULL DEFAULT '',
    DROP CONSTRAINT override_reviews_quantity_check,
    ADD CONSTRAINT override_reviews_quantity_check CHECK (quantity > 0 OR reported_amount <> ''),
    ADD CONSTRAINT override_reviews_names_medication CHECK (medication_id IS NOT NULL OR reported_code <> '');

-- MSH-10 retention. A cabinet's message control ids are remembered for PYXIS_HL7_ID_RETENTION
-- (30 days by default), not forever: a cabinet whose counter restarts is taken again once its
-- old ids have aged out, instead of being answered AE 205 for good. Settled reports and the
-- claims of applied reports older than that are purged by the inbox applier.
CREATE INDEX cabinet_inbox_settled_received ON cabinet_inbox (received_at) WHERE state <> 'pending';
CREATE INDEX cabinet_messages_received ON cabinet_messages (received_at);
-- A cabinet may send an id again once it aged out (a restarted counter): the ledger keeps both
-- movements. Applying a report once is cabinet_messages' job, claimed in the transaction that
-- writes the movement, so the ledger's own uniqueness on the id goes.
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_message_once;
CREATE INDEX stock_movements_cabinet_message ON stock_movements (cabinet_id, cabinet_message_id)
    WHERE cabinet_message_id IS NOT NULL;

-- The catalogue's item master content. route: the route of administration, a code of HL7
-- table 0162 (RXR-1 of every order of the medication; '' derives it from the form). barcodes:
-- the package barcodes (GTIN, NDC) a cabinet scans at refill (ZPI-9 of the item master
-- update). active: false deactivates the medication, and every cabinet that stocks it is
-- told (MFE-1 MDC).
ALTER TABLE medications
    ADD COLUMN route    text NOT NULL DEFAULT '',
    ADD COLUMN barcodes text[] NOT NULL DEFAULT '{}',
    ADD COLUMN active   boolean NOT NULL DEFAULT true;
