-- name: CreateCabinet :one
-- CreateCabinet registers a dispensing cabinet and returns it.
INSERT INTO cabinets (code, name, unit, status, driver, address, report_sources)
VALUES (@code, @name, @unit, @status, @driver, @address, @report_sources)
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

-- name: SetCabinetDriver :one
-- SetCabinetDriver points a cabinet at a driver and address and returns it.
UPDATE cabinets SET driver = @driver, address = @address
WHERE code = @code
RETURNING *;

-- name: SetCabinetReportSources :one
-- SetCabinetReportSources sets the networks a cabinet's reports are believed from and returns it.
UPDATE cabinets SET report_sources = @report_sources
WHERE id = @id
RETURNING *;

-- name: LockCabinetByCode :one
-- LockCabinetByCode returns the cabinet with the given code and locks it until the transaction ends.
SELECT * FROM cabinets
WHERE code = @code
FOR UPDATE;
