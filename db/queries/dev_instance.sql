-- name: ClaimDevInstance :exec
-- ClaimDevInstance records the dev stack's instance id and data folder unless one is recorded.
INSERT INTO dev_instance (id, dir)
VALUES (@id, @dir)
ON CONFLICT (singleton) DO NOTHING;

-- name: GetDevInstance :one
-- GetDevInstance returns the dev stack's instance id and the data folder that holds it.
SELECT id, dir
FROM dev_instance;
