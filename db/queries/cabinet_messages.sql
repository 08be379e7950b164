-- name: ClaimCabinetMessage :execrows
-- ClaimCabinetMessage records a cabinet report as applied; it affects no row when the report was applied before.
INSERT INTO cabinet_messages (cabinet_id, message_control_id, kind)
VALUES (@cabinet_id, @message_control_id, @kind)
ON CONFLICT (cabinet_id, message_control_id) DO NOTHING;

-- name: CabinetMessageApplied :one
-- CabinetMessageApplied reports whether a cabinet report has been applied.
SELECT EXISTS (
    SELECT 1 FROM cabinet_messages
    WHERE cabinet_id = @cabinet_id AND message_control_id = @message_control_id
) AS applied;
