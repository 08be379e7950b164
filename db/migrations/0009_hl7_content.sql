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
