-- name: InsertOverrideReview :one
-- InsertOverrideReview opens the review of a dispense no request matched and returns its id.
INSERT INTO override_reviews (
    cabinet_id, medication_id, quantity, not_in_ledger, order_ref, cause, movement_id, message_control_id,
    dispensed_by, dispensed_at, transaction, reported_code, reported_amount, reported_units, detail
) VALUES (
    @cabinet_id, sqlc.narg('medication_id'), @quantity, @not_in_ledger, @order_ref, @cause, sqlc.narg('movement_id'),
    @message_control_id, @dispensed_by, @dispensed_at, @transaction, @reported_code, @reported_amount,
    @reported_units, @detail
)
RETURNING id;

-- name: ListOverrideReviews :many
-- ListOverrideReviews returns override reviews newest first, optionally of one status or cabinet.
SELECT o.*, c.code AS cabinet_code, COALESCE(m.code, o.reported_code)::text AS medication_code,
       COALESCE(m.name, '')::text AS medication_name
FROM override_reviews o
JOIN cabinets c ON c.id = o.cabinet_id
LEFT JOIN medications m ON m.id = o.medication_id
WHERE (sqlc.narg('status')::override_status IS NULL OR o.status = sqlc.narg('status')::override_status)
  AND (sqlc.narg('cabinet_id')::bigint IS NULL OR o.cabinet_id = sqlc.narg('cabinet_id')::bigint)
ORDER BY o.created_at DESC, o.id DESC
LIMIT @max_rows;

-- name: GetOverrideReview :one
-- GetOverrideReview returns one override review with its cabinet's and medication's codes.
SELECT o.*, c.code AS cabinet_code, COALESCE(m.code, o.reported_code)::text AS medication_code,
       COALESCE(m.name, '')::text AS medication_name
FROM override_reviews o
JOIN cabinets c ON c.id = o.cabinet_id
LEFT JOIN medications m ON m.id = o.medication_id
WHERE o.id = @id;

-- name: ReviewOverride :execrows
-- ReviewOverride closes an open override review with its outcome.
UPDATE override_reviews
SET status = 'reviewed', reviewed_at = now(), reviewed_by = @reviewed_by, outcome = @outcome, note = @note
WHERE id = @id AND status = 'open';

-- name: CountOpenOverrideReviews :one
-- CountOpenOverrideReviews counts the reviews nobody has done yet.
SELECT count(*)::bigint FROM override_reviews WHERE status = 'open';
