-- name: UpsertUser :exec
-- UpsertUser creates a user or replaces the name, role, registration, unit and active flag of an existing one.
INSERT INTO users (id, name, role, registration, unit, active)
VALUES (@id, @name, @role, @registration, @unit, @active)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name,
    role = EXCLUDED.role,
    registration = EXCLUDED.registration,
    unit = EXCLUDED.unit,
    active = EXCLUDED.active,
    updated_at = now();

-- name: ListUsers :many
-- ListUsers returns every user ordered by id.
SELECT * FROM users
ORDER BY id;

-- name: CreateUser :one
-- CreateUser adds a user to the directory and returns it; an existing id is a unique violation.
INSERT INTO users (id, name, role, registration, unit, active)
VALUES (@id, @name, @role, @registration, @unit, @active)
RETURNING *;

-- name: InsertUserIfMissing :one
-- InsertUserIfMissing adds a user unless the id exists; it returns no row when it did.
INSERT INTO users (id, name, role, registration, unit, active)
VALUES (@id, @name, @role, @registration, @unit, @active)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetUser :one
-- GetUser returns the user with the given id.
SELECT * FROM users
WHERE id = @id;

-- name: LockUser :one
-- LockUser returns the user with the given id and locks the row until the transaction ends.
SELECT * FROM users
WHERE id = @id
FOR UPDATE;

-- name: UpdateUser :one
-- UpdateUser replaces the changeable fields of a user and returns it.
UPDATE users
SET name = @name,
    role = @role,
    registration = @registration,
    unit = @unit,
    active = @active,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: InactiveApprovers :many
-- InactiveApprovers returns the users who recorded an approval of the request (the first of
-- two) and are deactivated now, ordered by id.
SELECT DISTINCT t.actor_id
FROM request_transitions t
JOIN users u ON u.id = t.actor_id
WHERE t.request_id = @request_id
  AND t.action = 'approval_recorded'
  AND NOT u.active
ORDER BY t.actor_id;
