-- Cabinet commands that outlive an outage (issue 16). A command to a cabinet that does not
-- acknowledge it is retried until the request's withdrawal window closes; Temporal retries
-- the activity by itself, so its attempts are not in the workflow's history. Each failed
-- attempt is recorded here instead: the request view shows it (cabinet_delivery), and the
-- metrics count what waits and for how long.
--
-- One row per request: the command now being delivered (authorize, or the revoke that
-- follows it). open is true while the cabinet has not acknowledged it; the attempt that
-- succeeds or is refused closes it, and so does the workflow's next recorded transition (the
-- request ready at the cabinet, failed, or a revoke that gave up). maybe_delivered is kept
-- across attempts (and workers): a refusal after an attempt that went unanswered means the
-- cabinet may hold the order, and it is revoked.
CREATE TABLE cabinet_deliveries (
    request_id      text PRIMARY KEY REFERENCES medication_requests (id),
    command         text NOT NULL CHECK (command IN ('authorize', 'revoke')),
    attempts        integer NOT NULL CHECK (attempts > 0),
    last_error      text NOT NULL,
    since           timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    maybe_delivered boolean NOT NULL DEFAULT false,
    open            boolean NOT NULL DEFAULT true
);

CREATE INDEX cabinet_deliveries_open ON cabinet_deliveries (since) WHERE open;
