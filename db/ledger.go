package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// reserveLockClass is the first key of the advisory lock that serializes reserve attempts
// for one request; the second key is a hash of the request id. It spells "RSRV" in ASCII.
const reserveLockClass int32 = 0x52535256

// reserve holds the merged lines of a request in a cabinet, all or nothing, in the caller's
// transaction (Admit's). A line is reserved only where on_hand - reserved covers it; otherwise
// nothing is reserved and reserve returns an *InsufficientStockError naming that line
// (Available 0 when the cabinet does not stock the medication). It is idempotent per request,
// because Temporal retries activities: when a previous attempt for requestID committed, it
// changes nothing. Stock rows are locked in ascending medication order, so concurrent
// reserves cannot deadlock. A request whose stock is settled already (released, or taken by
// its vends) gets ErrSettled: its workflow has moved on, and a reservation now would have
// nobody to release it.
func reserve(ctx context.Context, q *gen.Queries, requestID string, cabinetID int64, merged []pyxis.Line) error {
	// Attempts for the same request wait for each other, and for its vends and release, so
	// a retry that overlaps a slow first attempt sees its reservations instead of reserving
	// twice, and a late attempt sees the settlement.
	if err := lockRequestStock(ctx, q, requestID); err != nil {
		return err
	}
	settled, err := q.StockSettled(ctx, requestID)
	if err != nil {
		return err
	}
	if settled {
		return fmt.Errorf("%w: request %s", pyxis.ErrSettled, requestID)
	}
	done, err := q.ReservationsExist(ctx, requestID)
	if err != nil || done {
		return err
	}
	for _, l := range merged {
		n, err := q.ReserveStock(ctx, gen.ReserveStockParams{
			CabinetID:    cabinetID,
			MedicationID: l.MedicationID,
			Quantity:     l.Quantity,
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return insufficient(ctx, q, cabinetID, l)
		}
		err = q.InsertReservation(ctx, gen.InsertReservationParams{
			RequestID:    requestID,
			MedicationID: l.MedicationID,
			CabinetID:    cabinetID,
			Quantity:     l.Quantity,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lockRequestStock serializes, until the end of the transaction, every change of one
// request's hold on stock: reserve, vends and release.
func lockRequestStock(ctx context.Context, q *gen.Queries, requestID string) error {
	return q.LockReservationRequest(ctx, gen.LockReservationRequestParams{
		LockClass: reserveLockClass,
		RequestID: requestID,
	})
}

// insufficient builds the error for a line that could not be reserved.
func insufficient(ctx context.Context, q *gen.Queries, cabinetID int64, l pyxis.Line) error {
	available, err := q.AvailableStock(ctx, gen.AvailableStockParams{
		CabinetID:    cabinetID,
		MedicationID: l.MedicationID,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return &pyxis.InsufficientStockError{MedicationID: l.MedicationID, Requested: l.Quantity, Available: available}
}

// release gives back a request's held reservations in the caller's transaction and settles
// its stock, so no reserve attempt still under way can hold anything for it afterwards.
func release(ctx context.Context, q *gen.Queries, requestID string) ([]pyxis.Line, error) {
	if err := lockRequestStock(ctx, q, requestID); err != nil {
		return nil, err
	}
	rows, err := settle(ctx, q, requestID, gen.ReservationStateReleased)
	if err != nil {
		return nil, err
	}
	released := []pyxis.Line{}
	for _, r := range rows {
		n, err := q.ReleaseStock(ctx, gen.ReleaseStockParams{
			CabinetID:    r.CabinetID,
			MedicationID: r.MedicationID,
			Quantity:     r.Quantity,
		})
		if err != nil {
			return nil, err
		}
		if n != 1 {
			return nil, fmt.Errorf("no stock row for cabinet %d medication %d", r.CabinetID, r.MedicationID)
		}
		released = append(released, pyxis.Line{MedicationID: r.MedicationID, Quantity: r.Quantity})
	}
	return released, nil
}

// settle records the request's stock as settled with state (the first outcome stays), moves
// its held reservations to state and returns them in ascending
// medication order, the order in which their stock rows must then be locked.
func settle(ctx context.Context, q *gen.Queries, requestID string, state gen.ReservationState) ([]gen.SettleReservationsRow, error) {
	if err := q.SettleStock(ctx, gen.SettleStockParams{RequestID: requestID, Outcome: state}); err != nil {
		return nil, err
	}
	rows, err := q.SettleReservations(ctx, gen.SettleReservationsParams{RequestID: requestID, State: state})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b gen.SettleReservationsRow) int {
		return cmp.Or(cmp.Compare(a.CabinetID, b.CabinetID), cmp.Compare(a.MedicationID, b.MedicationID))
	})
	return rows, nil
}

// mergeLines adds up lines of the same medication and sorts them by medication id. It rejects
// an empty request and non-positive quantities.
func mergeLines(lines []pyxis.Line) ([]pyxis.Line, error) {
	if len(lines) == 0 {
		return nil, invalidf("a request needs at least one line")
	}
	sum := make(map[int64]int64, len(lines))
	for _, l := range lines {
		if l.Quantity <= 0 {
			return nil, invalidf("quantity of medication %d must be positive, got %d", l.MedicationID, l.Quantity)
		}
		sum[l.MedicationID] += int64(l.Quantity)
	}
	merged := make([]pyxis.Line, 0, len(sum))
	for id, q := range sum {
		if q > 1<<31-1 {
			return nil, invalidf("quantity of medication %d is too large", id)
		}
		merged = append(merged, pyxis.Line{MedicationID: id, Quantity: int32(q)})
	}
	slices.SortFunc(merged, func(a, b pyxis.Line) int { return cmp.Compare(a.MedicationID, b.MedicationID) })
	return merged, nil
}
