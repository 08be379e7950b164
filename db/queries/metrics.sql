-- Queries of the metrics read at scrape time (internal/metrics): each is a count over an
-- index, cheap enough to run every few seconds.

-- name: OperationalGauges :one
-- OperationalGauges counts what waits for people (open refill tasks, discrepancies, override
-- reviews), the requests still waiting past a deadline that passed before @past_deadline, and
-- reads the audit chain head, the cabinet commands waiting for an acknowledgment and how
-- long the oldest has waited (by the database's clock).
SELECT
    (SELECT count(*) FROM refill_tasks WHERE status = 'open')::bigint AS open_restock_tasks,
    (SELECT count(*) FROM discrepancies WHERE status = 'open')::bigint AS open_discrepancies,
    (SELECT count(*) FROM override_reviews WHERE status = 'open')::bigint AS open_override_reviews,
    (SELECT count(*) FROM medication_requests
     WHERE status = 'awaiting_approval' AND approval_deadline < @past_deadline::timestamptz)::bigint AS awaiting_approval_past_deadline,
    (SELECT count(*) FROM medication_requests
     WHERE status = 'ready_at_cabinet' AND withdrawal_deadline < @past_deadline::timestamptz)::bigint AS ready_at_cabinet_past_deadline,
    (SELECT seq FROM audit_chain_head)::bigint AS audit_head_seq,
    (SELECT count(*) FROM cabinet_deliveries WHERE open)::bigint AS cabinet_deliveries_waiting,
    (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(since)), 0) FROM cabinet_deliveries WHERE open)::float8
        AS oldest_cabinet_delivery_seconds;
