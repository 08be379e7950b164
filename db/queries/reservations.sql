-- name: LockReservationRequest :exec
-- LockReservationRequest serializes, until the end of the transaction, reserve attempts for one request.
SELECT pg_advisory_xact_lock(@lock_class::integer, hashtext(@request_id::text));

-- name: ReservationsExist :one
-- ReservationsExist reports whether a reserve for the request has already committed.
SELECT EXISTS (SELECT 1 FROM reservations WHERE request_id = @request_id) AS exists;

-- name: InsertReservation :exec
-- InsertReservation records a held reservation of one line of a request.
INSERT INTO reservations (request_id, medication_id, cabinet_id, quantity, state)
VALUES (@request_id, @medication_id, @cabinet_id, @quantity, 'held');

-- name: SettleReservations :many
-- SettleReservations moves the held reservations of a request to a final state and returns them.
UPDATE reservations
SET state = @state,
    updated_at = now()
WHERE request_id = @request_id
  AND state = 'held'
RETURNING medication_id, cabinet_id, quantity;

-- name: HeldReservations :one
-- HeldReservations sums the held reservations of a medication in a cabinet.
SELECT COALESCE(SUM(quantity), 0)::integer AS held
FROM reservations
WHERE cabinet_id = @cabinet_id
  AND medication_id = @medication_id
  AND state = 'held';

-- name: StockSettled :one
-- StockSettled reports whether the request's stock was released or consumed already.
SELECT EXISTS (SELECT 1 FROM stock_settlements WHERE request_id = @request_id) AS settled;

-- name: SettleStock :exec
-- SettleStock records that the request's hold on stock has ended; the first outcome stays.
INSERT INTO stock_settlements (request_id, outcome)
VALUES (@request_id, @outcome)
ON CONFLICT (request_id) DO NOTHING;
