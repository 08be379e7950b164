package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// movement is one ledger row to append; zero strings are stored as NULL.
type movement struct {
	cabinetID, medicationID int64
	kind                    string
	delta, onHandAfter      int32
	requestID, witness      string
	source, messageID       string
	refillTaskID            int64
	actor                   pyxis.Actor
	at                      time.Time
	details                 map[string]any
}

// insertMovement appends m to the stock ledger.
func insertMovement(ctx context.Context, q *gen.Queries, m movement) (Movement, error) {
	details, err := marshalDetails(m.details)
	if err != nil {
		return Movement{}, err
	}
	var at *time.Time
	if !m.at.IsZero() {
		at = &m.at
	}
	row, err := q.InsertMovement(ctx, gen.InsertMovementParams{
		At:               at,
		CabinetID:        m.cabinetID,
		MedicationID:     m.medicationID,
		Kind:             gen.StockMovementKind(m.kind),
		Quantity:         m.delta,
		OnHandAfter:      m.onHandAfter,
		RequestID:        optText(m.requestID),
		ActorID:          m.actor.ID,
		ActorRole:        m.actor.Role,
		WitnessID:        optText(m.witness),
		Source:           gen.StockMovementSource(m.source),
		CabinetMessageID: optText(m.messageID),
		RefillTaskID:     pgtype.Int8{Int64: m.refillTaskID, Valid: m.refillTaskID != 0},
		Details:          details,
	})
	if err != nil {
		return Movement{}, err
	}
	return movementFromGen(row)
}

// moveStock changes the on_hand of a pocket by m.delta and appends m to the ledger, in the
// caller's transaction. The pocket's row is locked first; a positive change into a pocket
// without a row creates it. A change that would leave on_hand below what is reserved (or below
// zero) changes nothing and returns ErrStockBelowReserved.
func moveStock(ctx context.Context, q *gen.Queries, m movement) (Movement, error) {
	key := gen.LockStockParams{CabinetID: m.cabinetID, MedicationID: m.medicationID}
	if m.delta > 0 {
		if _, err := q.EnsureStockRow(ctx, gen.EnsureStockRowParams(key)); err != nil {
			return Movement{}, err
		}
	}
	level, err := q.LockStock(ctx, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return Movement{}, notFoundf("medication %d is not stocked in cabinet %d", m.medicationID, m.cabinetID)
	}
	if err != nil {
		return Movement{}, err
	}
	after := int64(level.OnHand) + int64(m.delta)
	if after > MaxOnHand {
		return Movement{}, fmt.Errorf("%w: %s of %d would leave %d on hand of medication %d in cabinet %d, more than %d",
			pyxis.ErrInvalid, m.kind, abs(m.delta), after, m.medicationID, m.cabinetID, MaxOnHand)
	}
	if after < int64(level.Reserved) {
		return Movement{}, fmt.Errorf("%w: %s of %d would leave %d on hand of medication %d in cabinet %d, and %d are reserved for pending requests",
			pyxis.ErrStockBelowReserved, m.kind, abs(m.delta), after, m.medicationID, m.cabinetID, level.Reserved)
	}
	m.onHandAfter = int32(after)
	if err := q.SetOnHand(ctx, gen.SetOnHandParams{OnHand: m.onHandAfter, CabinetID: m.cabinetID, MedicationID: m.medicationID}); err != nil {
		return Movement{}, err
	}
	return insertMovement(ctx, q, m)
}

// ListMovements returns the ledger of one pocket in the order it was written.
func (s *StockStore) ListMovements(ctx context.Context, cabinetID, medicationID int64) ([]Movement, error) {
	rows, err := s.q.ListMovements(ctx, gen.ListMovementsParams{CabinetID: cabinetID, MedicationID: medicationID})
	if err != nil {
		return nil, wrap("list movements", err)
	}
	out := make([]Movement, len(rows))
	for i, r := range rows {
		if out[i], err = movementFromGen(r); err != nil {
			return nil, wrap("list movements", err)
		}
	}
	return out, nil
}

// MovementBalance returns the sum of the ledger of one pocket. Because every change of on_hand
// is written to the ledger, it equals the pocket's on_hand; tests use it to check that.
func (s *StockStore) MovementBalance(ctx context.Context, cabinetID, medicationID int64) (int32, error) {
	n, err := s.q.MovementBalance(ctx, gen.MovementBalanceParams{CabinetID: cabinetID, MedicationID: medicationID})
	if err != nil {
		return 0, wrap("movement balance", err)
	}
	return n, nil
}

// CabinetMessageApplied reports whether a cabinet's report, named by its message control id,
// has been applied.
func (s *StockStore) CabinetMessageApplied(ctx context.Context, cabinetID int64, messageControlID string) (bool, error) {
	ok, err := s.q.CabinetMessageApplied(ctx, gen.CabinetMessageAppliedParams{CabinetID: cabinetID, MessageControlID: messageControlID})
	if err != nil {
		return false, wrap("cabinet message applied", err)
	}
	return ok, nil
}

// claimMessage records a cabinet report as applied, in the caller's transaction, and reports
// whether it was new. An empty id claims nothing and counts as new.
func claimMessage(ctx context.Context, q *gen.Queries, cabinetID int64, messageID, kind string) (bool, error) {
	if messageID == "" {
		return true, nil
	}
	n, err := q.ClaimCabinetMessage(ctx, gen.ClaimCabinetMessageParams{CabinetID: cabinetID, MessageControlID: messageID, Kind: kind})
	return n == 1, err
}

// audit appends an audit entry to the chain in the caller's transaction (see appendAudit).
func audit(ctx context.Context, q *gen.Queries, at time.Time, by pyxis.Actor, action, requestID string, details map[string]any) error {
	return appendAudit(ctx, q, auditRecord{at: at, actor: by, action: action, requestID: requestID, details: details})
}

func movementFromGen(r gen.StockMovement) (Movement, error) {
	details := map[string]any{}
	if err := json.Unmarshal(r.Details, &details); err != nil {
		return Movement{}, err
	}
	return Movement{
		ID:               r.ID,
		At:               r.At,
		CabinetID:        r.CabinetID,
		MedicationID:     r.MedicationID,
		Kind:             string(r.Kind),
		Quantity:         r.Quantity,
		OnHandAfter:      r.OnHandAfter,
		RequestID:        r.RequestID.String,
		Actor:            pyxis.Actor{ID: r.ActorID, Role: r.ActorRole},
		WitnessID:        r.WitnessID.String,
		Source:           string(r.Source),
		CabinetMessageID: r.CabinetMessageID.String,
		RefillTaskID:     r.RefillTaskID.Int64,
		Details:          details,
	}, nil
}

func optText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func optInt4(p *int32) pgtype.Int4 {
	if p == nil {
		return pgtype.Int4{}
	}
	return pgtype.Int4{Int32: *p, Valid: true}
}

func int4Ptr(v pgtype.Int4) *int32 {
	if !v.Valid {
		return nil
	}
	return &v.Int32
}

func abs(n int32) int32 {
	if n < 0 {
		return -n
	}
	return n
}
