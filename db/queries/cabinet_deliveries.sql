-- name: RecordDeliveryAttempt :execrows
-- RecordDeliveryAttempt records a failed attempt of a request's cabinet command. Attempts of
-- the same command add up (the first one's time stays since, and maybe_delivered stays set
-- once set); another command starts afresh. An attempt older than the one recorded (a slow
-- worker reporting late) changes nothing.
INSERT INTO cabinet_deliveries AS d (request_id, command, attempts, last_error, since, last_at, maybe_delivered, open)
VALUES (@request_id, @command, @attempt, @last_error, @at, @at, @maybe_delivered, true)
ON CONFLICT (request_id) DO UPDATE
SET attempts = excluded.attempts,
    last_error = excluded.last_error,
    last_at = excluded.last_at,
    since = CASE WHEN d.command = excluded.command THEN d.since ELSE excluded.since END,
    maybe_delivered = CASE WHEN d.command = excluded.command THEN d.maybe_delivered OR excluded.maybe_delivered
                           ELSE excluded.maybe_delivered END,
    command = excluded.command,
    open = true
WHERE d.command <> excluded.command OR d.attempts <= excluded.attempts;

-- name: SettleDelivery :one
-- SettleDelivery closes a request's command the cabinet answered (acknowledged or refused),
-- and says whether an earlier attempt of it may have reached the cabinet unanswered.
UPDATE cabinet_deliveries
SET open = false
WHERE request_id = @request_id AND command = @command
RETURNING maybe_delivered;

-- name: CloseDelivery :exec
-- CloseDelivery closes whatever command of the request is still open: the workflow recorded
-- a transition after it, so it no longer waits for it.
UPDATE cabinet_deliveries SET open = false WHERE request_id = @request_id AND open;
