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
-- SettleReservations moves the held reservations of a request to a final state and returns what
-- each still held (its quantity less what vends consumed of it).
WITH held AS (
    SELECT h.request_id, h.medication_id, h.quantity - h.consumed AS remaining
    FROM reservations h
    WHERE h.request_id = @request_id::text AND h.state = 'held'
    FOR UPDATE
)
UPDATE reservations r
SET state = @state,
    consumed = CASE WHEN @state::reservation_state = 'consumed' THEN r.quantity ELSE r.consumed END,
    updated_at = now()
FROM held h
WHERE r.request_id = h.request_id AND r.medication_id = h.medication_id
RETURNING r.medication_id, r.cabinet_id, h.remaining::integer AS quantity;

-- name: HeldReservations :one
-- HeldReservations sums the held reservations of a medication in a cabinet.
SELECT COALESCE(SUM(quantity - consumed), 0)::integer AS held
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

-- name: ListReservations :many
-- ListReservations returns every reservation of a request, held or settled, by medication.
SELECT medication_id, cabinet_id, quantity, consumed, state
FROM reservations
WHERE request_id = @request_id
ORDER BY medication_id;

-- name: ConsumeReservation :exec
-- ConsumeReservation records that a vend took quantity of a held reservation; the reservation
-- is consumed once all of it was taken.
UPDATE reservations
SET consumed = consumed + @quantity,
    state = CASE WHEN consumed + @quantity >= quantity THEN 'consumed'::reservation_state ELSE state END,
    updated_at = now()
WHERE request_id = @request_id AND medication_id = @medication_id AND state = 'held';
