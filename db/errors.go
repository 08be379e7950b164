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

	"github.com/medreq/pyxis"
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

// mapError translates pgx and PostgreSQL errors into the domain's errors (package pyxis),
// keeping the original error in the chain. It is the only place that looks at SQLSTATE codes.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", pyxis.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if unavailable(err) {
			return fmt.Errorf("%w: %w", pyxis.ErrUnavailable, err)
		}
		return err
	}
	switch pgErr.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", pyxis.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: %w", pyxis.ErrNotFound, err)
	case codeCheckViolation:
		if pgErr.TableName == "cabinet_stock" && pgErr.ConstraintName == stockWithinOnHand {
			return fmt.Errorf("%w: %w", pyxis.ErrStockBelowReserved, err)
		}
		return fmt.Errorf("%w: %w", pyxis.ErrInvalid, err)
	case codeNotNullViolation, codeInvalidText, codeNumericOutOfRange:
		return fmt.Errorf("%w: %w", pyxis.ErrInvalid, err)
	}
	// Class 22, data exception: text Postgres cannot store (a NUL is 22021), a value out of
	// range or of the wrong form. The same write can never succeed. Everything else (class
	// 08 connection, 40 serialization failure and deadlock, 53 resources, 57 shutdown) may
	// succeed when retried.
	if strings.HasPrefix(pgErr.Code, classDataException) {
		return fmt.Errorf("%w: %w", pyxis.ErrInvalid, err)
	}
	// Class 08 connection exception, 57P01-57P03 shutting down or starting, 53300 too many
	// connections: the server, not the data.
	if strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" {
		return fmt.Errorf("%w: %w", pyxis.ErrUnavailable, err)
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
	return fmt.Errorf("%w: %s", pyxis.ErrInvalid, fmt.Sprintf(format, args...))
}

// notFoundf returns an ErrNotFound naming what was missing.
func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", pyxis.ErrNotFound, fmt.Sprintf(format, args...))
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
