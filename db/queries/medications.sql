-- name: CreateMedication :one
-- CreateMedication adds a medication to the catalogue and returns it.
INSERT INTO medications (code, name, strength, form, unit, controlled_list, route, barcodes)
VALUES (@code, @name, @strength, @form, @unit, sqlc.narg(controlled_list), @route, @barcodes::text[])
RETURNING *;

-- name: ListMedications :many
-- ListMedications returns the whole catalogue ordered by code.
SELECT * FROM medications
ORDER BY code;

-- name: GetMedications :many
-- GetMedications returns the medications with the given ids, ordered by id.
SELECT * FROM medications
WHERE id = ANY(@ids::bigint[])
ORDER BY id;

-- name: GetMedication :one
-- GetMedication returns the medication with the given id.
SELECT * FROM medications
WHERE id = @id;

-- name: GetMedicationByCode :one
-- GetMedicationByCode returns the medication with the given code.
SELECT * FROM medications
WHERE code = @code;

-- name: UpdateMedication :one
-- UpdateMedication changes a catalogue entry and returns it.
UPDATE medications
SET name = @name, strength = @strength, form = @form, unit = @unit,
    controlled_list = sqlc.narg(controlled_list), route = @route, barcodes = @barcodes::text[],
    active = @active, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ListItemMasterCabinets :many
-- ListItemMasterCabinets returns the HL7 cabinets that stock a medication: those whose item
-- master must hear of its changes.
SELECT c.* FROM cabinets c
JOIN cabinet_stock s ON s.cabinet_id = c.id
WHERE s.medication_id = @medication_id AND c.driver = 'hl7'
ORDER BY c.id;
