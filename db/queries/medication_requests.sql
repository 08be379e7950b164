-- name: InsertRequest :execrows
-- InsertRequest creates the projection row of a request unless it exists already. Rows made
-- here keep every transition in request_transitions (has_transitions).
INSERT INTO medication_requests (
    id, requester_id, requester_name, patient_mrn, patient_bed, patient_family, patient_given, cabinet_id,
    priority, status, reason, seq, created_at, updated_at, required_approvals, has_transitions
) VALUES (
    @id, @requester_id, @requester_name, @patient_mrn, @patient_bed, @patient_family, @patient_given, @cabinet_id,
    @priority, @status, @reason, @seq, @at, @at, @required_approvals, true
)
ON CONFLICT (id) DO NOTHING;

-- name: InsertRequestLines :exec
-- InsertRequestLines stores the lines of a request from two parallel arrays of equal length.
INSERT INTO medication_request_lines (request_id, medication_id, quantity)
SELECT @request_id::text, unnest(@medication_ids::bigint[]), unnest(@quantities::integer[])
ON CONFLICT (request_id, medication_id) DO NOTHING;

-- name: AdvanceRequest :execrows
-- AdvanceRequest applies a transition to the projection only if it is newer than the last one applied.
-- A deadline left NULL keeps the one the row has. Like the workflow's state, the row keeps the
-- reason of the last change of status that gave one.
UPDATE medication_requests
SET reason = CASE WHEN @status::request_status <> status AND @reason::text <> '' THEN @reason::text ELSE reason END,
    reason_code = CASE WHEN @status::request_status <> status AND @reason::text <> '' THEN @reason_code::text ELSE reason_code END,
    status = @status,
    seq = @seq,
    updated_at = @at,
    approval_deadline = COALESCE(sqlc.narg('approval_deadline')::timestamptz, approval_deadline),
    withdrawal_deadline = COALESCE(sqlc.narg('withdrawal_deadline')::timestamptz, withdrawal_deadline)
WHERE id = @id
  AND seq < @seq;

-- name: RequestExists :one
-- RequestExists reports whether the projection has a row for the request.
SELECT EXISTS (SELECT 1 FROM medication_requests WHERE id = @id) AS exists;

-- name: GetRequest :one
-- GetRequest returns one request of the projection with its cabinet's code.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.patient_family, r.patient_given, r.cabinet_id,
       c.code AS cabinet_code, r.priority, r.status, r.reason, r.reason_code, r.created_at, r.updated_at
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
WHERE r.id = @id;

-- name: GetRequestDetail :many
-- GetRequestDetail returns one request as a read shows it, in one statement, so that the
-- request, its lines and its transitions come from one snapshot and one round trip: every row
-- carries the request (with the cabinet command it waits for, if any, and its lines as two
-- arrays ordered by medication), and there is one row per transition, in order. A request
-- with no transition recorded yet has one row, its transition columns null.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.patient_family, r.patient_given, r.cabinet_id,
       c.code AS cabinet_code, r.priority, r.status, r.reason, r.reason_code, r.seq, r.created_at, r.updated_at,
       r.required_approvals, r.approval_deadline, r.withdrawal_deadline, r.has_transitions,
       d.command AS delivery_command, d.attempts AS delivery_attempts, d.last_error AS delivery_last_error,
       d.since AS delivery_since,
       (r.version + COALESCE((SELECT dv.changes FROM cabinet_deliveries dv WHERE dv.request_id = r.id), 0))::bigint AS version,
       l.medication_ids::bigint[] AS line_medication_ids, l.quantities::integer[] AS line_quantities,
       t.seq AS t_seq, t.from_status AS t_from_status, t.to_status AS t_to_status, t.action AS t_action,
       t.actor_id AS t_actor_id, t.actor_name AS t_actor_name, t.actor_role AS t_actor_role, t.at AS t_at,
       t.reason AS t_reason, t.reason_code AS t_reason_code, t.note AS t_note, t.vended AS t_vended,
       t.report_id AS t_report_id, t.registration AS t_registration
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
LEFT JOIN cabinet_deliveries d ON d.request_id = r.id AND d.open
CROSS JOIN LATERAL (
    SELECT COALESCE(array_agg(rl.medication_id ORDER BY rl.medication_id), '{}') AS medication_ids,
           COALESCE(array_agg(rl.quantity ORDER BY rl.medication_id), '{}') AS quantities
    FROM medication_request_lines rl
    WHERE rl.request_id = r.id
) l
LEFT JOIN request_transitions t ON t.request_id = r.id
WHERE r.id = @id
ORDER BY t.seq;

-- name: InsertTransition :execrows
-- InsertTransition keeps one transition of a request; a retry of the same (request, seq) writes
-- nothing, and affects no row: 1 means the transition is recorded now for the first time.
INSERT INTO request_transitions (
    request_id, seq, from_status, to_status, action, actor_id, actor_name, actor_role, at, reason, reason_code, note, vended, report_id,
    registration
) VALUES (
    @request_id, @seq, sqlc.narg('from_status')::request_status, @to_status, @action,
    @actor_id, @actor_name, @actor_role, @at, @reason, @reason_code, @note, sqlc.narg('vended')::jsonb, @report_id,
    @registration
)
ON CONFLICT (request_id, seq) DO NOTHING;

-- name: GetTransition :one
-- GetTransition returns what a step's retry needs to know of a request's transition seq: that
-- it is recorded (pgx.ErrNoRows otherwise), where it went and why.
SELECT to_status, action, reason
FROM request_transitions
WHERE request_id = @request_id AND seq = @seq;

-- name: ListRequests :many
-- ListRequests returns requests newest first, optionally filtered (and limited to what a viewer
-- may see), starting after a (created_at, id) cursor.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.patient_family, r.patient_given, r.cabinet_id,
       c.code AS cabinet_code, r.priority, r.status, r.reason, r.reason_code, r.created_at, r.updated_at
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
WHERE (sqlc.narg('status')::request_status IS NULL OR r.status = sqlc.narg('status')::request_status)
  AND (sqlc.narg('cabinet_id')::bigint IS NULL OR r.cabinet_id = sqlc.narg('cabinet_id')::bigint)
  AND (sqlc.narg('requester_id')::text IS NULL OR r.requester_id = sqlc.narg('requester_id')::text)
  -- Need to know: with a viewer, only the requests the viewer made and those of the cabinets
  -- of the viewer's unit (none when the unit is '').
  AND (sqlc.narg('viewer_id')::text IS NULL
       OR r.requester_id = sqlc.narg('viewer_id')::text
       OR r.cabinet_id = ANY (ARRAY(SELECT cu.id FROM cabinets cu
                                    WHERE cu.unit = sqlc.narg('viewer_unit')::text AND cu.unit <> '')))
  AND (sqlc.narg('after_created_at')::timestamptz IS NULL
       OR (r.created_at, r.id) < (sqlc.narg('after_created_at')::timestamptz, sqlc.narg('after_id')::text))
ORDER BY r.created_at DESC, r.id DESC
LIMIT @max_rows;

-- name: ListRequestLines :many
-- ListRequestLines returns the lines of the given requests ordered by request and medication.
SELECT request_id, medication_id, quantity
FROM medication_request_lines
WHERE request_id = ANY (@request_ids::text[])
ORDER BY request_id, medication_id;

-- name: GetRequestTimes :one
-- GetRequestTimes returns what the metrics of a request's transitions need: its priority, when
-- it was submitted, and when it first entered awaiting_approval (its submission when it never
-- did).
SELECT r.priority, r.created_at,
       COALESCE((SELECT min(t.at) FROM request_transitions t
                 WHERE t.request_id = r.id AND t.to_status = 'awaiting_approval'), r.created_at)::timestamptz AS awaiting_since
FROM medication_requests r
WHERE r.id = @id;

-- name: ListApprovalQueue :many
-- ListApprovalQueue returns the requests awaiting approval, STAT first, then oldest first,
-- starting after a (not stat, created_at, id) cursor.
SELECT r.id, r.requester_id, r.requester_name, r.patient_mrn, r.patient_bed, r.patient_family, r.patient_given,
       r.cabinet_id, c.code AS cabinet_code, r.priority, r.created_at, r.approval_deadline, r.required_approvals
FROM medication_requests r
JOIN cabinets c ON c.id = r.cabinet_id
WHERE r.status = 'awaiting_approval'
  AND (sqlc.narg('after_created_at')::timestamptz IS NULL
       OR ((r.priority <> 'stat'), r.created_at, r.id)
          > (sqlc.narg('after_not_stat')::boolean, sqlc.narg('after_created_at')::timestamptz, sqlc.narg('after_id')::text))
ORDER BY (r.priority <> 'stat'), r.created_at, r.id
LIMIT @max_rows;

-- name: ListApprovalTransitions :many
-- ListApprovalTransitions returns the approvals recorded for the given requests, and the
-- voidings of approvals (note names the pharmacist voided), in order.
SELECT request_id, action, actor_id, actor_name, at, note
FROM request_transitions
WHERE request_id = ANY (@request_ids::text[])
  AND action IN ('approved', 'approval_recorded', 'approval_voided')
ORDER BY request_id, seq;
