package db

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// Causes of an unmatched dispense.
const (
	// UnmatchedNoOrder: the vend named no order (a vend without an order).
	UnmatchedNoOrder = "no_order"
	// UnmatchedUnknownOrder: the order number is not a request of this system (another
	// system's order, an override).
	UnmatchedUnknownOrder = "unknown_order"
	// UnmatchedRequestNotReady: the request exists but was not waiting at this cabinet (it
	// ended, was never authorized there, or belongs to another cabinet).
	UnmatchedRequestNotReady = "request_not_ready"
	// ReviewUnknownMedication: the cabinet named a medication code the catalogue does not
	// know; the review has no medication, only the code as reported.
	ReviewUnknownMedication = "unknown_medication"
	// ReviewFractionalAmount: an amount or a count is not a whole number ("0.5" of an
	// ampoule); the ledger counts whole units, so the review keeps the amount as reported.
	ReviewFractionalAmount = "fractional_amount"
	// ReviewPatientMismatch: the report's patient (PID-3.1) is not the order's.
	ReviewPatientMismatch = "patient_mismatch"
	// ReviewUnitMismatch: the report's units (RXD-5) are not the ones the order was sent in.
	ReviewUnitMismatch = "unit_mismatch"
)

// Override review statuses and outcomes.
const (
	OverrideOpen         = "open"
	OverrideReviewed     = "reviewed"
	OverrideJustified    = "justified"
	OverrideNotJustified = "not_justified"
)

// UnmatchedDispense is a vend the system could not match to a request waiting at the cabinet.
type UnmatchedDispense struct {
	CabinetID int64
	// Lines are what the cabinet reported dispensed.
	Lines []pyxis.Line
	// OrderRef is the order number as the cabinet sent it; Cause why it matched nothing.
	OrderRef         string
	Cause            string
	MessageControlID string
	Actor            pyxis.Actor
	Source           string
	At               time.Time
	// Detail says what differed, for the reviewer (the report's patient and the order's).
	Detail string
	// Transaction is the report's kind (ZPM-1: V, R, W, L, U, C); empty is V, a vend.
	Transaction string
	// Parked are what the report says that the ledger cannot hold as written (a medication
	// it does not know, an amount that is not a whole number, other units): each opens a
	// review with its own cause and moves no stock.
	Parked []ParkedLine
	// ClaimKey is the key the report is applied once under (cabinet_messages); empty:
	// MessageControlID. A vend whose other lines went to their request claims the report
	// there, so its parked lines claim another key.
	ClaimKey string
}

// ParkedLine is one item of a report kept for a pharmacist's review as the cabinet wrote it.
type ParkedLine struct {
	// MedicationID is the catalogue's medication, 0 when the code is unknown.
	MedicationID int64
	// Code, Amount and Units are as the cabinet reported them; Quantity is the amount when
	// it is a whole number, else 0 and Amount holds it.
	Code     string
	Quantity int32
	Amount   string
	Units    string
	Cause    string
	Detail   string
}

// UnmatchedResult says what recording an unmatched dispense did: the reviews it opened, or
// Duplicate when the report was recorded before.
type UnmatchedResult struct {
	Reviews   []int64
	Duplicate bool
}

// RecordUnmatchedDispense records, in one transaction and once per (cabinet, message control
// id), a dispense no request could take: each line leaves the pocket's unreserved stock (as
// far as the ledger holds it) as a dispensed movement without a request, so the stock and the
// controlled register stay true; it is audited (unmatched_dispense); and each line opens an
// override review for a pharmacist. Each parked line (u.Parked) opens a review too, audited
// (report_parked), without moving stock: what the ledger cannot hold as written waits for the
// pharmacist, and the report itself stays in the inbox.
func (s *StockStore) RecordUnmatchedDispense(ctx context.Context, u UnmatchedDispense) (UnmatchedResult, error) {
	var lines []pyxis.Line
	if len(u.Lines) > 0 || len(u.Parked) == 0 {
		var err error
		if lines, err = mergeLines(u.Lines); err != nil {
			return UnmatchedResult{}, wrap("record unmatched dispense", err)
		}
	}
	transaction := cmp.Or(u.Transaction, "V")
	var res UnmatchedResult
	err := s.inTx(ctx, func(q *gen.Queries) error {
		fresh, err := claimMessage(ctx, q, u.CabinetID, cmp.Or(u.ClaimKey, u.MessageControlID), transaction)
		if err != nil || !fresh {
			res.Duplicate = !fresh
			return err
		}
		type taken struct {
			line       pyxis.Line
			movementID pgtype.Int8
			missing    int32
		}
		var all []taken
		for _, l := range lines {
			if _, err := q.GetMedication(ctx, l.MedicationID); errors.Is(err, pgx.ErrNoRows) {
				return notFoundf("medication %d", l.MedicationID)
			} else if err != nil {
				return err
			}
			got, lvl, err := takeFree(ctx, q, u.CabinetID, l.MedicationID, l.Quantity)
			if err != nil {
				return err
			}
			t := taken{line: l, missing: l.Quantity - got}
			if got > 0 {
				m, err := insertMovement(ctx, q, movement{
					cabinetID: u.CabinetID, medicationID: l.MedicationID, kind: MovementDispensed,
					delta: -got, onHandAfter: lvl.OnHand, actor: u.Actor, source: u.Source, at: u.At,
					details: map[string]any{"unmatched": true, "order_ref": u.OrderRef, "cause": u.Cause, "report_id": u.MessageControlID},
				})
				if err != nil {
					return err
				}
				t.movementID = pgtype.Int8{Int64: m.ID, Valid: true}
			}
			all = append(all, t)
		}
		for _, t := range all {
			id, err := q.InsertOverrideReview(ctx, gen.InsertOverrideReviewParams{
				CabinetID: u.CabinetID, MedicationID: pgtype.Int8{Int64: t.line.MedicationID, Valid: true},
				Quantity: t.line.Quantity, NotInLedger: t.missing,
				OrderRef: u.OrderRef, Cause: u.Cause, MovementID: t.movementID, MessageControlID: u.MessageControlID,
				DispensedBy: u.Actor.ID, DispensedAt: u.At, Transaction: transaction, Detail: u.Detail,
			})
			if err != nil {
				return err
			}
			res.Reviews = append(res.Reviews, id)
			err = audit(ctx, q, u.At, u.Actor, "unmatched_dispense", "", map[string]any{
				"cabinet_id": u.CabinetID, "medication_id": t.line.MedicationID, "quantity": t.line.Quantity,
				"not_in_ledger": t.missing, "order_ref": u.OrderRef, "cause": u.Cause,
				"message_control_id": u.MessageControlID, "override_review_id": id,
			})
			if err != nil {
				return err
			}
		}
		for _, p := range u.Parked {
			id, err := parkLine(ctx, q, u, transaction, p)
			if err != nil {
				return err
			}
			res.Reviews = append(res.Reviews, id)
		}
		return nil
	})
	if err != nil {
		return UnmatchedResult{}, wrap("record unmatched dispense", err)
	}
	return res, nil
}

// parkLine opens the review of one parked line and audits it.
func parkLine(ctx context.Context, q *gen.Queries, u UnmatchedDispense, transaction string, p ParkedLine) (int64, error) {
	med := pgtype.Int8{Int64: p.MedicationID, Valid: p.MedicationID != 0}
	if med.Valid {
		if _, err := q.GetMedication(ctx, p.MedicationID); errors.Is(err, pgx.ErrNoRows) {
			return 0, notFoundf("medication %d", p.MedicationID)
		} else if err != nil {
			return 0, err
		}
	}
	if p.Quantity < 0 || (p.Quantity == 0 && p.Amount == "") || (!med.Valid && p.Code == "") {
		return 0, invalidf("a parked line names what and how much (medication %q, amount %q)", p.Code, p.Amount)
	}
	id, err := q.InsertOverrideReview(ctx, gen.InsertOverrideReviewParams{
		CabinetID: u.CabinetID, MedicationID: med, Quantity: p.Quantity, OrderRef: u.OrderRef,
		Cause: p.Cause, MessageControlID: u.MessageControlID, DispensedBy: u.Actor.ID, DispensedAt: u.At,
		Transaction: transaction, ReportedCode: p.Code, ReportedAmount: p.Amount, ReportedUnits: p.Units,
		Detail: p.Detail,
	})
	if err != nil {
		return 0, err
	}
	return id, audit(ctx, q, u.At, u.Actor, "report_parked", "", map[string]any{
		"cabinet_id": u.CabinetID, "medication_id": p.MedicationID, "medication_code": p.Code,
		"quantity": p.Quantity, "amount": p.Amount, "units": p.Units, "transaction": transaction,
		"order_ref": u.OrderRef, "cause": p.Cause, "detail": p.Detail,
		"message_control_id": u.MessageControlID, "override_review_id": id,
	})
}

// OverrideReview is a dispense without a matching request, waiting for (or after) a
// pharmacist's review.
type OverrideReview struct {
	ID                             int64
	CabinetID                      int64
	CabinetCode                    string
	MedicationID                   int64
	MedicationCode, MedicationName string
	Quantity, NotInLedger          int32
	OrderRef, Cause                string
	MessageControlID               string
	// Transaction is the report's kind (V, R, W, L, U, C); ReportedCode, ReportedAmount and
	// ReportedUnits what the cabinet wrote when the ledger could not take it as written
	// (MedicationID is then 0 for an unknown code, Quantity 0 for a fractional amount);
	// Detail what differed.
	Transaction                                 string
	ReportedCode, ReportedAmount, ReportedUnits string
	Detail                                      string
	DispensedBy                                 string
	DispensedAt                                 time.Time
	Status                                      string
	CreatedAt                                   time.Time
	ReviewedAt                                  *time.Time
	ReviewedBy, Outcome, Note                   string
}

// OverrideFilter selects override reviews; zero values mean no filter. Limit 0 means 100, at
// most 500.
type OverrideFilter struct {
	Status    string
	CabinetID int64
	Limit     int
}

// ListOverrideReviews returns override reviews newest first.
func (s *StockStore) ListOverrideReviews(ctx context.Context, f OverrideFilter) ([]OverrideReview, error) {
	params := gen.ListOverrideReviewsParams{MaxRows: stockLimit(f.Limit)}
	if f.Status != "" {
		st := gen.OverrideStatus(f.Status)
		if !st.Valid() {
			return nil, wrap("list override reviews", invalidf("unknown override review status %q", f.Status))
		}
		params.Status = gen.NullOverrideStatus{OverrideStatus: st, Valid: true}
	}
	if f.CabinetID != 0 {
		params.CabinetID = pgtype.Int8{Int64: f.CabinetID, Valid: true}
	}
	rows, err := s.q.ListOverrideReviews(ctx, params)
	if err != nil {
		return nil, wrap("list override reviews", err)
	}
	out := make([]OverrideReview, len(rows))
	for i, r := range rows {
		out[i] = overrideFromGen(gen.GetOverrideReviewRow(r))
	}
	return out, nil
}

// GetOverrideReview returns one override review, or ErrNotFound.
func (s *StockStore) GetOverrideReview(ctx context.Context, id int64) (OverrideReview, error) {
	r, err := s.q.GetOverrideReview(ctx, id)
	if err != nil {
		return OverrideReview{}, wrap("get override review", err)
	}
	return overrideFromGen(r), nil
}

// ReviewOverride closes an open review with its outcome (OverrideJustified or
// OverrideNotJustified) and audits it. A review already closed gives ErrNotOpen; the person
// who dispensed reviewing it, ErrInvalid; an unknown one, ErrNotFound.
func (s *StockStore) ReviewOverride(ctx context.Context, id int64, outcome, note string, by pyxis.Actor) (OverrideReview, error) {
	if outcome != OverrideJustified && outcome != OverrideNotJustified {
		return OverrideReview{}, wrap("review override", invalidf("outcome must be %q or %q", OverrideJustified, OverrideNotJustified))
	}
	var out OverrideReview
	err := s.inTx(ctx, func(q *gen.Queries) error {
		cur, err := q.GetOverrideReview(ctx, id)
		if err != nil {
			return err
		}
		if cur.DispensedBy == by.ID {
			return invalidf("the person who dispensed may not review their own override")
		}
		n, err := q.ReviewOverride(ctx, gen.ReviewOverrideParams{
			ID: id, ReviewedBy: pgtype.Text{String: by.ID, Valid: true},
			Outcome: pgtype.Text{String: outcome, Valid: true}, Note: pgtype.Text{String: note, Valid: note != ""},
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return pyxis.ErrNotOpen
		}
		if cur, err = q.GetOverrideReview(ctx, id); err != nil {
			return err
		}
		out = overrideFromGen(cur)
		return audit(ctx, q, time.Time{}, by, "override_reviewed", "", map[string]any{
			"override_review_id": id, "outcome": outcome, "note": note, "cabinet_id": cur.CabinetID,
			"medication_id": cur.MedicationID.Int64, "quantity": cur.Quantity, "cause": cur.Cause,
		})
	})
	if err != nil {
		return OverrideReview{}, wrap("review override", err)
	}
	return out, nil
}

// CountOpenOverrideReviews counts the reviews nobody has done yet.
func (s *StockStore) CountOpenOverrideReviews(ctx context.Context) (int64, error) {
	n, err := s.q.CountOpenOverrideReviews(ctx)
	return n, wrap("count open override reviews", err)
}

func overrideFromGen(r gen.GetOverrideReviewRow) OverrideReview {
	return OverrideReview{
		ID: r.ID, CabinetID: r.CabinetID, CabinetCode: r.CabinetCode, MedicationID: r.MedicationID.Int64,
		MedicationCode: r.MedicationCode, MedicationName: r.MedicationName, Quantity: r.Quantity,
		NotInLedger: r.NotInLedger, OrderRef: r.OrderRef, Cause: r.Cause, MessageControlID: r.MessageControlID,
		DispensedBy: r.DispensedBy, DispensedAt: r.DispensedAt, Status: string(r.Status), CreatedAt: r.CreatedAt,
		ReviewedAt: r.ReviewedAt, ReviewedBy: r.ReviewedBy.String, Outcome: r.Outcome.String, Note: r.Note.String,
		Transaction: r.Transaction, ReportedCode: r.ReportedCode, ReportedAmount: r.ReportedAmount,
		ReportedUnits: r.ReportedUnits, Detail: r.Detail,
	}
}
