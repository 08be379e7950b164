-- name: InsertInboxReport :one
-- InsertInboxReport keeps a report the listener accepted; it returns no row when the cabinet sent
-- a report with the same message control id before.
INSERT INTO cabinet_inbox (cabinet_id, message_control_id, content_hash, kind, report, raw, peer)
VALUES (@cabinet_id, @message_control_id, @content_hash, @kind, @report, @raw, @peer)
ON CONFLICT (cabinet_id, message_control_id) DO NOTHING
RETURNING id;

-- name: GetInboxReportByMessage :one
-- GetInboxReportByMessage returns the report a cabinet sent under a message control id.
SELECT id, content_hash, state, outcome, received_at
FROM cabinet_inbox
WHERE cabinet_id = @cabinet_id AND message_control_id = @message_control_id;

-- name: ListPendingInbox :many
-- ListPendingInbox returns pending reports in the order each cabinet sent them (by cabinet, then
-- as received).
SELECT id, cabinet_id, message_control_id, kind, report, raw, peer, received_at, attempts, next_attempt_at
FROM cabinet_inbox
WHERE state = 'pending'
ORDER BY cabinet_id, id
LIMIT @max_rows;

-- name: SettleInboxReport :exec
-- SettleInboxReport records that a pending report was applied (or given up on) and how.
UPDATE cabinet_inbox
SET state = @state, outcome = @outcome, last_error = @last_error, settled_at = now()
WHERE id = @id AND state = 'pending';

-- name: DeferInboxReport :exec
-- DeferInboxReport records a failed attempt at a pending report and when to try again.
UPDATE cabinet_inbox
SET attempts = attempts + 1, last_error = @last_error, next_attempt_at = @next_attempt_at
WHERE id = @id AND state = 'pending';

-- name: InboxBacklog :one
-- InboxBacklog counts pending reports and the age of the oldest, in seconds.
SELECT count(*)::bigint AS pending,
       COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0)::double precision AS oldest_seconds
FROM cabinet_inbox
WHERE state = 'pending';

-- name: GetInboxReportState :one
-- GetInboxReportState returns where a cabinet's report stands in the inbox.
SELECT state, outcome, last_error, attempts
FROM cabinet_inbox
WHERE cabinet_id = @cabinet_id AND message_control_id = @message_control_id;

-- name: PurgeInboxRaw :execrows
-- PurgeInboxRaw blanks the raw text of settled reports received before the cutoff; the parsed
-- report stays.
UPDATE cabinet_inbox
SET raw = ''
WHERE raw <> '' AND state <> 'pending' AND received_at < @cutoff;

-- name: ForgetInboxReport :exec
-- ForgetInboxReport removes a settled report whose message control id aged out, with the claims
-- it was applied under (the id, and the id/... of its parked lines and of each order of a vend
-- of several), so that the id can be taken again.
WITH gone AS (
    DELETE FROM cabinet_inbox
    WHERE id = @id AND state <> 'pending'
    RETURNING cabinet_id, message_control_id
)
DELETE FROM cabinet_messages m
USING gone
WHERE m.cabinet_id = gone.cabinet_id
  AND (m.message_control_id = gone.message_control_id
       OR left(m.message_control_id, length(gone.message_control_id) + 1) = gone.message_control_id || '/');

-- name: PurgeInbox :execrows
-- PurgeInbox removes settled reports received before a time.
DELETE FROM cabinet_inbox
WHERE state <> 'pending' AND received_at < @before;

-- name: PurgeCabinetMessages :execrows
-- PurgeCabinetMessages removes the claims of reports applied before a time, but those of a report
-- still pending in the inbox.
DELETE FROM cabinet_messages m
WHERE m.received_at < @before
  AND NOT EXISTS (
    SELECT 1 FROM cabinet_inbox i
    WHERE i.cabinet_id = m.cabinet_id AND i.state = 'pending'
      AND (i.message_control_id = m.message_control_id
           OR left(m.message_control_id, length(i.message_control_id) + 1) = i.message_control_id || '/')
  );
