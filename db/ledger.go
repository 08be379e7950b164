package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db/gen"
)

// reserveLockClass is the first key of the advisory lock that serializes reserve attempts
// for one request; the second key is a hash of the request id. It spells "RSRV" in ASCII.
const reserveLockClass int32 = 0x52535256

// Reserve holds the lines of a request in a cabinet, all or nothing, in one transaction.
// A line is reserved only where on_hand - reserved covers it; otherwise nothing is reserved
// and Reserve returns an *InsufficientStockError naming that line (Available 0 when the
// cabinet does not stock the medication). Lines of the same medication are added together.
//
// Reserve is idempotent per request, because Temporal retries activities: when a previous
// attempt for requestID committed, Reserve returns nil and changes nothing. Stock rows are
// locked in ascending medication order, so concurrent reserves cannot deadlock.
func (s *Store) Reserve(ctx context.Context, requestID string, cabinetID int64, lines []Line) error {
	merged, err := mergeLines(lines)
	if err != nil {
		return wrap("reserve", err)
	}
	err = s.inTx(ctx, func(q *gen.Queries) error {
		return reserve(ctx, q, requestID, cabinetID, merged)
	})
	var short *InsufficientStockError
	if errors.As(err, &short) {
		return short
	}
	return wrap("reserve", err)
}

// reserve holds merged lines of a request in the caller's transaction (see Reserve). A request
// whose stock is settled already (released or consumed) gets ErrSettled: its workflow has
// moved on, and a reservation now would have nobody to release it.
func reserve(ctx context.Context, q *gen.Queries, requestID string, cabinetID int64, merged []Line) error {
	// Attempts for the same request wait for each other, and for its release or consume, so
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
		return fmt.Errorf("%w: request %s", ErrSettled, requestID)
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
// request's hold on stock: reserve, release and consume.
func lockRequestStock(ctx context.Context, q *gen.Queries, requestID string) error {
	return q.LockReservationRequest(ctx, gen.LockReservationRequestParams{
		LockClass: reserveLockClass,
		RequestID: requestID,
	})
}

// insufficient builds the error for a line that could not be reserved.
func insufficient(ctx context.Context, q *gen.Queries, cabinetID int64, l Line) error {
	available, err := q.AvailableStock(ctx, gen.AvailableStockParams{
		CabinetID:    cabinetID,
		MedicationID: l.MedicationID,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return &InsufficientStockError{MedicationID: l.MedicationID, Requested: l.Quantity, Available: available}
}

// Release gives back the held reservations of a request, lowering reserved, and returns
// what it released. A repeat finds nothing held and returns an empty slice.
func (s *Store) Release(ctx context.Context, requestID string) ([]Line, error) {
	var released []Line
	err := s.inTx(ctx, func(q *gen.Queries) (err error) {
		released, err = release(ctx, q, requestID)
		return err
	})
	if err != nil {
		return nil, wrap("release", err)
	}
	return released, nil
}

// release gives back a request's held reservations in the caller's transaction and settles
// its stock, so no reserve attempt still under way can hold anything for it afterwards.
func release(ctx context.Context, q *gen.Queries, requestID string) ([]Line, error) {
	if err := lockRequestStock(ctx, q, requestID); err != nil {
		return nil, err
	}
	rows, err := settle(ctx, q, requestID, gen.ReservationStateReleased)
	if err != nil {
		return nil, err
	}
	released := []Line{}
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
		released = append(released, Line{MedicationID: r.MedicationID, Quantity: r.Quantity})
	}
	return released, nil
}

// Consume takes the held reservations of a request out of the cabinet, lowering both on_hand
// and reserved, and returns for each line the on_hand and par_level left. Each line is written
// to the stock ledger as a dispensed movement of the request, in the same transaction. A repeat
// finds nothing held and returns an empty slice.
func (s *Store) Consume(ctx context.Context, requestID string) ([]ConsumedLine, error) {
	var consumed []ConsumedLine
	err := s.inTx(ctx, func(q *gen.Queries) (err error) {
		consumed, err = consume(ctx, q, requestID)
		return err
	})
	if err != nil {
		return nil, wrap("consume", err)
	}
	return consumed, nil
}

// consume takes a request's held reservations out of the cabinet in the caller's transaction,
// writes the dispensed movements and settles the request's stock.
func consume(ctx context.Context, q *gen.Queries, requestID string) ([]ConsumedLine, error) {
	if err := lockRequestStock(ctx, q, requestID); err != nil {
		return nil, err
	}
	rows, err := settle(ctx, q, requestID, gen.ReservationStateConsumed)
	if err != nil {
		return nil, err
	}
	consumed := []ConsumedLine{}
	for _, r := range rows {
		left, err := q.ConsumeStock(ctx, gen.ConsumeStockParams{
			CabinetID:    r.CabinetID,
			MedicationID: r.MedicationID,
			Quantity:     r.Quantity,
		})
		if err != nil {
			return nil, err
		}
		_, err = insertMovement(ctx, q, movement{
			cabinetID: r.CabinetID, medicationID: r.MedicationID, kind: MovementDispensed,
			delta: -r.Quantity, onHandAfter: left.OnHand, requestID: requestID,
			actor: systemActor, source: SourceWorkflow,
		})
		if err != nil {
			return nil, err
		}
		consumed = append(consumed, ConsumedLine{
			MedicationID: r.MedicationID,
			Quantity:     r.Quantity,
			OnHand:       left.OnHand,
			ParLevel:     left.ParLevel,
		})
	}
	return consumed, nil
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
func mergeLines(lines []Line) ([]Line, error) {
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
	merged := make([]Line, 0, len(sum))
	for id, q := range sum {
		if q > 1<<31-1 {
			return nil, invalidf("quantity of medication %d is too large", id)
		}
		merged = append(merged, Line{MedicationID: id, Quantity: int32(q)})
	}
	slices.SortFunc(merged, func(a, b Line) int { return cmp.Compare(a.MedicationID, b.MedicationID) })
	return merged, nil
}
