-- name: ListStock :many
-- ListStock returns the stock of one cabinet with each medication's code and name, ordered by code.
SELECT s.cabinet_id, s.medication_id, m.code AS medication_code, m.name AS medication_name,
       s.on_hand, s.reserved, s.par_level, s.updated_at
FROM cabinet_stock s
JOIN medications m ON m.id = s.medication_id
WHERE s.cabinet_id = @cabinet_id
ORDER BY m.code;

-- name: UpsertStock :one
-- UpsertStock sets the counted quantity and par level of a medication in a cabinet, keeping what is reserved.
WITH upserted AS (
    INSERT INTO cabinet_stock (cabinet_id, medication_id, on_hand, par_level)
    VALUES (@cabinet_id, @medication_id, @on_hand, @par_level)
    ON CONFLICT (cabinet_id, medication_id) DO UPDATE
    SET on_hand = EXCLUDED.on_hand,
        par_level = EXCLUDED.par_level,
        updated_at = now()
    RETURNING *
)
SELECT u.cabinet_id, u.medication_id, m.code AS medication_code, m.name AS medication_name,
       u.on_hand, u.reserved, u.par_level, u.updated_at
FROM upserted u
JOIN medications m ON m.id = u.medication_id;

-- name: ReserveStock :execrows
-- ReserveStock raises reserved by quantity only where that much is still available; it affects no row otherwise.
UPDATE cabinet_stock
SET reserved = reserved + @quantity,
    updated_at = now()
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
  AND on_hand - reserved >= @quantity;

-- name: AvailableStock :one
-- AvailableStock returns what can still be reserved of a medication in a cabinet.
SELECT (on_hand - reserved)::integer AS available
FROM cabinet_stock
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id;

-- name: ReleaseStock :execrows
-- ReleaseStock lowers reserved by the quantity of a released reservation.
UPDATE cabinet_stock
SET reserved = reserved - @quantity,
    updated_at = now()
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id;

-- name: ConsumeStock :one
-- ConsumeStock takes a consumed reservation out of both on_hand and reserved and returns the new levels.
UPDATE cabinet_stock
SET on_hand = on_hand - @quantity,
    reserved = reserved - @quantity,
    updated_at = now()
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
RETURNING on_hand, par_level;

-- name: EnsureStockRow :execrows
-- EnsureStockRow creates an empty stock row for a pocket unless it exists, so it can be locked;
-- it affects one row when the pocket is new.
INSERT INTO cabinet_stock (cabinet_id, medication_id)
VALUES (@cabinet_id, @medication_id)
ON CONFLICT (cabinet_id, medication_id) DO NOTHING;

-- name: LockStock :one
-- LockStock locks the stock row of a pocket until the end of the transaction and returns its levels.
SELECT on_hand, reserved, par_level
FROM cabinet_stock
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
FOR UPDATE;

-- name: SetOnHand :exec
-- SetOnHand sets the on_hand of a pocket locked with LockStock.
UPDATE cabinet_stock
SET on_hand = @on_hand,
    updated_at = now()
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id;

-- name: TakeFreeStock :one
-- TakeFreeStock lowers on_hand by what a vend took beyond its reservations, only where that much
-- is not reserved by other requests, and returns the new levels.
UPDATE cabinet_stock
SET on_hand = on_hand - @quantity,
    updated_at = now()
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
  AND on_hand - reserved >= @quantity
RETURNING on_hand, par_level;

-- name: MedicationHeld :one
-- MedicationHeld reports whether any pocket holds the medication.
SELECT EXISTS (
    SELECT 1 FROM cabinet_stock WHERE medication_id = @medication_id AND on_hand > 0
)::boolean AS held;
