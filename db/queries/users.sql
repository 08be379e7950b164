-- name: UpsertUser :exec
-- UpsertUser creates a user or replaces the name, role, registration and active flag of an existing one.
INSERT INTO users (id, name, role, registration, active)
VALUES (@id, @name, @role, @registration, @active)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name,
    role = EXCLUDED.role,
    registration = EXCLUDED.registration,
    active = EXCLUDED.active;

-- name: ListUsers :many
-- ListUsers returns every user ordered by id.
SELECT * FROM users
ORDER BY id;
