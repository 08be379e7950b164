-- name: InsertIdempotencyKey :exec
-- InsertIdempotencyKey claims an Idempotency-Key for a request unless the requester already used it.
INSERT INTO idempotency_keys (requester_id, key, request_id, body_hash)
VALUES (@requester_id, @key, @request_id, @body_hash)
ON CONFLICT (requester_id, key) DO NOTHING;

-- name: GetIdempotencyKey :one
-- GetIdempotencyKey returns the request and body hash that own a requester's Idempotency-Key.
SELECT request_id, body_hash
FROM idempotency_keys
WHERE requester_id = @requester_id
  AND key = @key;
