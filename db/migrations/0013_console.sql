-- The web console (issue 18).
--
-- Sessions. The browser holds only an opaque, random session id in an HttpOnly cookie; the
-- server keeps what the session acts with (the bearer token it was signed in with, or the
-- identity provider's tokens) here, so every api replica serves every session and signing
-- out ends it everywhere. The id is stored hashed: a read of this table does not give a
-- usable cookie.
CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY,
    -- The bearer token every call of the session is authenticated with, as if it came in an
    -- Authorization header (the same verification, directory and roles).
    token      text NOT NULL CHECK (token <> ''),
    -- The identity provider's refresh token (OIDC sign-in), '' for none.
    refresh    text NOT NULL DEFAULT '',
    -- Every change the console makes sends this back in X-CSRF-Token.
    csrf       text NOT NULL CHECK (csrf <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Live views follow the projection's notifications of migration 0016 (pyxis_request_changed),
-- the same feed that answers GET /v1/requests/{id}?wait.

-- The approval queue: awaiting approval, STAT first, then oldest first.
CREATE INDEX medication_requests_queue ON medication_requests ((priority <> 'stat'), created_at, id)
    WHERE status = 'awaiting_approval';
