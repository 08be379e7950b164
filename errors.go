package pyxis

import (
	"errors"
	"fmt"
)

// Errors the data layer answers with. Callers test for them with errors.Is: the activities
// tell Temporal which may be retried, the intake which reports to give up on, and the API
// maps each to an HTTP status in one place. The database layer maps PostgreSQL's errors to
// them (db/errors.go).
var (
	// ErrNotFound means the row asked for, or a row it refers to, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a row with the same unique key already exists.
	ErrConflict = errors.New("already exists")
	// ErrStockBelowReserved means a stock count would fall below what is reserved.
	ErrStockBelowReserved = errors.New("on hand would fall below reserved")
	// ErrIdempotencyMismatch means an Idempotency-Key was reused for a different request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrInvalidCursor means a pagination cursor was not one the data layer issued.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrNotOpen means a refill task or discrepancy is no longer open: it was completed,
	// cancelled or resolved already.
	ErrNotOpen = errors.New("not open")
	// ErrSettled means a request's stock was released or consumed already, so nothing more
	// may be reserved for it.
	ErrSettled = errors.New("stock of the request is settled")
	// ErrUnavailable means the database did not answer (refused or lost the connection, is
	// shutting down or starting, has no connection to spare): the same call may succeed
	// shortly.
	ErrUnavailable = errors.New("database unavailable")
	// ErrControlledStock means a change of a controlled medication's on_hand was asked for
	// outside the ways it may change: a count (and a resolved discrepancy) or a load.
	ErrControlledStock = errors.New("on hand of a controlled medication changes only through a count, a load or a resolved discrepancy")
	// ErrControlledInStock means a medication's controlled list was to be lowered or removed
	// while a pocket holds it.
	ErrControlledInStock = errors.New("the controlled list of a medication in stock cannot be lowered")
	// ErrSamePerson means someone asked to review their own act: resolving a discrepancy of a
	// controlled medication they counted (or wasted unwitnessed).
	ErrSamePerson = errors.New("the same person may not do both")
	// ErrInvalid means an argument was rejected: an unknown enum value, a non-positive quantity,
	// or any other value the schema's checks refuse.
	ErrInvalid = errors.New("invalid value")
)

// InsufficientStockError is why an admission was refused: one line of the request cannot be
// reserved, so nothing of it is.
type InsufficientStockError struct {
	// MedicationID is the medication that is short.
	MedicationID int64
	// Requested is the quantity the line asked for.
	Requested int32
	// Available is on_hand - reserved at the time of the attempt; 0 when the cabinet does not
	// stock the medication at all.
	Available int32
}

// Error words the shortage for the nurse and the audit trail: it is the refused request's
// reason.
func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock of medication %d: requested %d, available %d",
		e.MedicationID, e.Requested, e.Available)
}
