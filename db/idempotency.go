package db

import (
	"context"
	"fmt"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// ClaimIdempotencyKey maps a requester's Idempotency-Key to a request id. The first claim of a
// key stores requestID and bodyHash and returns requestID; a later claim with the same
// bodyHash returns the id stored first, so a retried create reaches the same workflow. A later
// claim with a different bodyHash returns ErrIdempotencyMismatch. Concurrent claims of one key
// all return the same id.
func (s *RequestStore) ClaimIdempotencyKey(ctx context.Context, requesterID, key, requestID, bodyHash string) (string, error) {
	// Two statements, not one: under READ COMMITTED the SELECT takes a new snapshot, so it sees
	// a row that a concurrent claim committed while the INSERT waited for it.
	err := s.q.InsertIdempotencyKey(ctx, gen.InsertIdempotencyKeyParams{
		RequesterID: requesterID,
		Key:         key,
		RequestID:   requestID,
		BodyHash:    bodyHash,
	})
	if err != nil {
		return "", wrap("claim idempotency key", err)
	}
	owner, err := s.q.GetIdempotencyKey(ctx, gen.GetIdempotencyKeyParams{RequesterID: requesterID, Key: key})
	if err != nil {
		return "", wrap("claim idempotency key", err)
	}
	if owner.BodyHash != bodyHash {
		return "", fmt.Errorf("db: claim idempotency key: %w (owned by request %s)", pyxis.ErrIdempotencyMismatch, owner.RequestID)
	}
	return owner.RequestID, nil
}
