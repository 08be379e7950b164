package db

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors returned by the Store. Callers test for them with errors.Is; the API maps
// each to an HTTP status in one place.
var (
	// ErrNotFound means the row asked for, or a row it refers to, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a row with the same unique key already exists.
	ErrConflict = errors.New("already exists")
	// ErrStockBelowReserved means a stock count would fall below what is reserved.
	ErrStockBelowReserved = errors.New("on hand would fall below reserved")
	// ErrIdempotencyMismatch means an Idempotency-Key was reused for a different request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrInvalidCursor means a pagination cursor was not one this package issued.
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
	// ErrSamePerson means someone asked to review their own act: resolving a discrepancy of a
	// controlled medication they counted (or wasted unwitnessed).
	ErrSamePerson = errors.New("the same person may not do both")
	// ErrInvalid means an argument was rejected: an unknown enum value, a non-positive quantity,
	// or any other value the schema's checks refuse.
	ErrInvalid = errors.New("invalid value")
)

// PostgreSQL error codes mapped by mapError.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeNotNullViolation    = "23502"
	codeInvalidText         = "22P02"
	codeNumericOutOfRange   = "22003"
	classDataException      = "22"
)

// stockWithinOnHand is the cabinet_stock check that keeps reserved within on_hand.
const stockWithinOnHand = "stock_reserved_within_on_hand"

// InsufficientStockError is returned by Store.Reserve when one line of a request cannot be
// reserved; nothing of the request is reserved then.
type InsufficientStockError struct {
	// MedicationID is the medication that is short.
	MedicationID int64
	// Requested is the quantity the line asked for.
	Requested int32
	// Available is on_hand - reserved at the time of the attempt; 0 when the cabinet does not
	// stock the medication at all.
	Available int32
}

// Error describes the shortage.
func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock of medication %d: requested %d, available %d",
		e.MedicationID, e.Requested, e.Available)
}

// mapError translates pgx and PostgreSQL errors into the package's sentinels, keeping the
// original error in the chain. It is the only place that looks at SQLSTATE codes.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if unavailable(err) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	switch pgErr.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case codeCheckViolation:
		if pgErr.TableName == "cabinet_stock" && pgErr.ConstraintName == stockWithinOnHand {
			return fmt.Errorf("%w: %w", ErrStockBelowReserved, err)
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case codeNotNullViolation, codeInvalidText, codeNumericOutOfRange:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// Class 22, data exception: text Postgres cannot store (a NUL is 22021), a value out of
	// range or of the wrong form. The same write can never succeed. Everything else (class
	// 08 connection, 40 serialization failure and deadlock, 53 resources, 57 shutdown) may
	// succeed when retried.
	if strings.HasPrefix(pgErr.Code, classDataException) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// Class 08 connection exception, 57P01-57P03 shutting down or starting, 53300 too many
	// connections: the server, not the data.
	if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// wrap prefixes err with the operation that failed, after mapping it with mapError.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("db: %s: %w", op, mapError(err))
}

// invalidf returns an ErrInvalid with a formatted explanation.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// notFoundf returns an ErrNotFound naming what was missing.
func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// unavailable reports whether an error that is not a server's answer means the database could
// not be reached: a failed connect, a connection lost mid-call, a network error.
func unavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		pgconn.SafeToRetry(err)
}
