-- name: CreateConsoleSession :exec
-- CreateConsoleSession stores a new console session under the hash of its id.
INSERT INTO console_sessions (id_hash, token, refresh, csrf, expires_at)
VALUES (@id_hash, @token, @refresh, @csrf, @expires_at);

-- name: GetConsoleSession :one
-- GetConsoleSession returns the session stored under id_hash, unless it has expired.
SELECT token, refresh, csrf, expires_at
FROM console_sessions
WHERE id_hash = @id_hash AND expires_at > now();

-- name: UpdateConsoleSessionTokens :exec
-- UpdateConsoleSessionTokens replaces the tokens of a session (an OIDC refresh).
UPDATE console_sessions SET token = @token, refresh = @refresh WHERE id_hash = @id_hash;

-- name: DeleteConsoleSession :exec
-- DeleteConsoleSession ends a session (sign out).
DELETE FROM console_sessions WHERE id_hash = @id_hash;

-- name: DeleteExpiredConsoleSessions :execrows
-- DeleteExpiredConsoleSessions removes the sessions that have expired.
DELETE FROM console_sessions WHERE expires_at <= now();
