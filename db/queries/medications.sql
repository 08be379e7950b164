-- name: CreateMedication :one
-- CreateMedication adds a medication to the catalogue and returns it.
INSERT INTO medications (code, name, strength, form, unit, controlled)
VALUES (@code, @name, @strength, @form, @unit, @controlled)
RETURNING *;

-- name: ListMedications :many
-- ListMedications returns the whole catalogue ordered by code.
SELECT * FROM medications
ORDER BY code;

-- name: MissingMedications :many
-- MissingMedications returns, sorted and without duplicates, those of the given ids that name no medication.
SELECT DISTINCT wanted.id::bigint AS id
FROM unnest(@ids::bigint[]) AS wanted (id)
WHERE NOT EXISTS (SELECT 1 FROM medications m WHERE m.id = wanted.id)
ORDER BY 1;
