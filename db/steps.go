package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// A request's workflow records its transitions together with the stock change each goes
// with, one transaction per step. The lock order inside every step is
// the one the rest of the package keeps: the request's stock lock and stock rows first, then
// the request row. Audit entries take no lock (the sealer chains them: audit_seal.go).

// RecordStep applies a step in one transaction: the stock changes, then each transition's
// projection and audit entry (a transition without a Header needs its request in the
// projection: ErrNotFound otherwise). It is idempotent: a repeat records nothing twice and
// finds the stock already settled, and an older transition delivered late is audited but
// does not move the request back.
func (s *RequestStore) RecordStep(ctx context.Context, st pyxis.Step) (pyxis.StepResult, error) {
	if err := checkStep(st.RequestID, st.Transitions); err != nil {
		return pyxis.StepResult{}, wrap("record step", err)
	}
	for i := 1; i < len(st.Transitions); i++ {
		if st.Transitions[i].Seq <= st.Transitions[i-1].Seq {
			return pyxis.StepResult{}, wrap("record step", invalidf("transitions of %s out of order: %d after %d",
				st.RequestID, st.Transitions[i].Seq, st.Transitions[i-1].Seq))
		}
	}
	var (
		res   pyxis.StepResult
		fresh []pyxis.Transition
	)
	err := s.inTx(ctx, func(q *gen.Queries) (err error) {
		// A step is retried until it commits once: one whose first transition is recorded
		// committed before, and must not take its vends twice.
		if len(st.Transitions) > 0 {
			if done, err := transitionRecorded(ctx, q, st.RequestID, st.Transitions[0].Seq); err != nil || done {
				return err
			}
		}
		var found []newDiscrepancy
		if len(st.Vends) > 0 {
			if err := lockRequestStock(ctx, q, st.RequestID); err != nil {
				return err
			}
			if settled, err := q.StockSettled(ctx, st.RequestID); err != nil || settled {
				if settled {
					err = fmt.Errorf("%w: a vend for request %s", pyxis.ErrSettled, st.RequestID)
				}
				return err
			}
		}
		for _, v := range st.Vends {
			took, differs, err := applyVend(ctx, q, st.RequestID, v)
			if err != nil {
				return err
			}
			res.Consumed = append(res.Consumed, took...)
			found = append(found, differs...)
		}
		switch st.Stock {
		case pyxis.StockNone:
		case pyxis.StockRelease:
			rows, err := q.ListReservations(ctx, st.RequestID)
			if err != nil {
				return err
			}
			if res.Released, err = release(ctx, q, st.RequestID); err != nil {
				return err
			}
			reporters, err := q.RequestVendReporters(ctx, optText(st.RequestID))
			if err != nil {
				return err
			}
			found = append(found, shortVends(st.RequestID, rows, reporters, pyxis.System, stepTime(st))...)
		default:
			return invalidf("unknown stock change %q", st.Stock)
		}
		for _, d := range found {
			rec, err := insertDiscrepancy(ctx, q, d)
			if err != nil {
				return err
			}
			res.Discrepancies = append(res.Discrepancies, rec.ID)
		}
		fresh, err = recordAll(ctx, q, st.Transitions)
		return err
	})
	if err != nil {
		return pyxis.StepResult{}, wrap("record step", err)
	}
	s.notify(ctx, fresh)
	return res, nil
}

// transitionRecorded reports whether a request's transition seq is in the projection.
func transitionRecorded(ctx context.Context, q *gen.Queries, requestID string, seq int32) (bool, error) {
	_, err := q.GetTransition(ctx, gen.GetTransitionParams{RequestID: requestID, Seq: seq})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// stepTime is when a step happened: its last transition's time, else now.
func stepTime(st pyxis.Step) time.Time {
	if n := len(st.Transitions); n > 0 {
		return st.Transitions[n-1].At
	}
	return time.Now()
}

// Admit applies an admission in one transaction: the reservation (all lines or none) and the
// two transitions it ends with. A retry after a commit finds the transitions recorded and the
// reservations held, and answers as the first attempt did. A request whose stock is settled
// already gets ErrSettled.
func (s *RequestStore) Admit(ctx context.Context, a pyxis.Admission) (pyxis.AdmissionResult, error) {
	merged, err := mergeLines(a.Lines)
	if err == nil {
		err = checkStep(a.RequestID, []pyxis.Transition{a.Submitted, a.Reserved, a.Refused})
	}
	switch {
	case err != nil:
	case a.Submitted.Header == nil:
		err = invalidf("the submitted transition of %s carries no header", a.RequestID)
	case a.Reserved.Seq != a.Submitted.Seq+1 || a.Refused.Seq != a.Reserved.Seq:
		err = invalidf("the outcomes of admitting %s must both follow its submission", a.RequestID)
	}
	if err != nil {
		return pyxis.AdmissionResult{}, wrap("admit", err)
	}
	var (
		res   pyxis.AdmissionResult
		fresh []pyxis.Transition
	)
	err = s.inTx(ctx, func(q *gen.Queries) error {
		// The outcome is recorded in the same transaction as the reservation, so a retry
		// reads it back instead of reserving again: a retry whose first attempt was short
		// must not reserve now that stock may have come back.
		decided, err := recordedOutcome(ctx, q, a)
		if err != nil || decided != nil {
			if decided != nil {
				res = *decided
			}
			return err
		}
		next := a.Reserved
		err = reserve(ctx, q, a.RequestID, a.CabinetID, merged)
		var short *pyxis.InsufficientStockError
		switch {
		case errors.As(err, &short):
			// All or nothing: what the lines before the short one reserved goes back, and the
			// refused request's stock is settled, so no late attempt holds anything for it.
			if _, err := release(ctx, q, a.RequestID); err != nil {
				return err
			}
			res.Short = short
			res.Reason = short.Error()
			next = a.Refused
			next.Reason = res.Reason
		case err != nil:
			return err
		}
		fresh, err = recordAll(ctx, q, []pyxis.Transition{a.Submitted, next})
		return err
	})
	if err != nil {
		return pyxis.AdmissionResult{}, wrap("admit", err)
	}
	s.notify(ctx, fresh)
	return res, nil
}

// recordedOutcome returns the outcome an earlier attempt of the admission committed, or nil
// when none did.
func recordedOutcome(ctx context.Context, q *gen.Queries, a pyxis.Admission) (*pyxis.AdmissionResult, error) {
	r, err := q.GetTransition(ctx, gen.GetTransitionParams{RequestID: a.RequestID, Seq: a.Reserved.Seq})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	case string(r.ToStatus) == a.Reserved.Status && r.Action == action(a.Reserved):
		return &pyxis.AdmissionResult{}, nil
	}
	// Refused: the shortage itself is not kept, only its words.
	return &pyxis.AdmissionResult{Short: &pyxis.InsufficientStockError{}, Reason: r.Reason}, nil
}

// checkStep refuses, before anything is written, transitions of another request and
// transitions without a time: a step is retried, and every attempt must write the same.
func checkStep(requestID string, ts []pyxis.Transition) error {
	if requestID == "" {
		return invalidf("a step needs a request id")
	}
	for _, t := range ts {
		if t.RequestID != requestID {
			return invalidf("transition %d belongs to %q, not %q", t.Seq, t.RequestID, requestID)
		}
		if t.At.IsZero() {
			return invalidf("transition %d of %s has no time", t.Seq, requestID)
		}
	}
	return checkTransitions(ts)
}

// recordAll applies transitions to the projection, then appends their audit entries: the
// audit chain head is locked last, and held as briefly as possible. It returns the
// transitions recorded now for the first time (a retry's are not).
func recordAll(ctx context.Context, q *gen.Queries, ts []pyxis.Transition) ([]pyxis.Transition, error) {
	var fresh []pyxis.Transition
	for _, t := range ts {
		inserted, err := project(ctx, q, t)
		if err != nil {
			return nil, fmt.Errorf("transition %d: %w", t.Seq, err)
		}
		if inserted {
			fresh = append(fresh, t)
		}
	}
	for _, t := range ts {
		if err := auditTransition(ctx, q, t); err != nil {
			return nil, fmt.Errorf("audit transition %d: %w", t.Seq, err)
		}
	}
	return fresh, nil
}
