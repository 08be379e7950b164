-- name: CreateCabinet :one
-- CreateCabinet registers a dispensing cabinet and returns it.
INSERT INTO cabinets (code, name, unit, status)
VALUES (@code, @name, @unit, @status)
RETURNING *;

-- name: ListCabinets :many
-- ListCabinets returns every cabinet ordered by code.
SELECT * FROM cabinets
ORDER BY code;

-- name: GetCabinet :one
-- GetCabinet returns the cabinet with the given id.
SELECT * FROM cabinets
WHERE id = @id;

-- name: GetCabinetByCode :one
-- GetCabinetByCode returns the cabinet with the given code.
SELECT * FROM cabinets
WHERE code = @code;
