package requests

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/workflows"
)

// These tests need neither Postgres nor Temporal: the refusals the service decides before
// it reaches a workflow, against a made-up store. What reaches a workflow is tested end to
// end (cmd/pyxis), through the API.

// fakeStore knows one cabinet, some medications and some requests; the service's writes
// are not expected here (the methods that write fail the test).
type fakeStore struct {
	t        *testing.T
	cabinets map[int64]pyxis.Cabinet
	meds     map[int64]pyxis.Medication
	requests map[string]db.RequestDetail
}

func (f fakeStore) GetCabinet(_ context.Context, id int64) (pyxis.Cabinet, error) {
	if c, ok := f.cabinets[id]; ok {
		return c, nil
	}
	return pyxis.Cabinet{}, fmt.Errorf("db: get cabinet: %w", pyxis.ErrNotFound)
}

func (f fakeStore) GetMedications(_ context.Context, ids []int64) ([]pyxis.Medication, error) {
	var out []pyxis.Medication
	for _, id := range ids {
		if m, ok := f.meds[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f fakeStore) GetRequestDetail(_ context.Context, id string) (db.RequestDetail, error) {
	if d, ok := f.requests[id]; ok {
		return d, nil
	}
	return db.RequestDetail{}, fmt.Errorf("db: get request detail: %w", pyxis.ErrNotFound)
}

func (f fakeStore) ClaimIdempotencyKey(context.Context, string, string, string, string) (string, error) {
	f.t.Error("an idempotency key was claimed for a request that is refused")
	return "", errors.New("unexpected")
}

func (f fakeStore) InactiveApprovers(context.Context, string) ([]string, error) { return nil, nil }

func (f fakeStore) AppendAudit(context.Context, pyxis.AuditEntry, string) error { return nil }

// fakeWithdrawals records the vends it is asked to apply, and answers with err.
type fakeWithdrawals struct {
	applied []intake.Vend
	err     error
}

func (w *fakeWithdrawals) ApplyVend(_ context.Context, v intake.Vend, strict bool) (intake.VendResult, error) {
	w.applied = append(w.applied, v)
	if w.err != nil {
		return intake.VendResult{}, w.err
	}
	return intake.VendResult{Outcome: "applied", State: &workflows.State{ID: v.OrderRef}}, nil
}

const reqID = "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9Y"

func newFakes(t *testing.T) (fakeStore, *fakeWithdrawals) {
	return fakeStore{
		t:        t,
		cabinets: map[int64]pyxis.Cabinet{3: {ID: 3, Code: "ICU-A3", Unit: "ICU"}, 4: {ID: 4, Code: "ER-1", Unit: "ER"}},
		meds:     map[int64]pyxis.Medication{11: {ID: 11, Code: "PARA500", Active: true}, 14: {ID: 14, Code: "OLD10"}},
		requests: map[string]db.RequestDetail{reqID: {RequestSummary: db.RequestSummary{ID: reqID,
			RequestHeader: pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse-ana"}, CabinetID: 3}}}},
	}, &fakeWithdrawals{}
}

// kindOf is the kind of a refusal, 0 for any other error.
func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// A request naming what does not exist is refused before any key is claimed or workflow
// started (the client is nil: starting one would panic), naming what is missing.
func TestCreateNamesWhatDoesNotExist(t *testing.T) {
	store, w := newFakes(t)
	s := New(store, nil, w, Policy{}, nil)
	nurse := pyxis.Actor{ID: "nurse-ana", Role: pyxis.RoleNurse}
	lines := []pyxis.Line{{MedicationID: 11, Quantity: 1}, {MedicationID: 12, Quantity: 1}, {MedicationID: 13, Quantity: 2}}

	_, err := s.Create(context.Background(), NewRequest{RequestHeader: pyxis.RequestHeader{Requester: nurse, CabinetID: 9, Lines: lines}, IdempotencyKey: "k"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Kind: NotFound, Message: "cabinet not found", Missing: []Missing{{Line: -1, ID: 9}}}, e)

	_, err = s.Create(context.Background(), NewRequest{RequestHeader: pyxis.RequestHeader{Requester: nurse, CabinetID: 3, Lines: lines}, IdempotencyKey: "k"})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Kind: NotFound, Message: "medication not found", Missing: []Missing{{Line: 1, ID: 12}, {Line: 2, ID: 13}}}, e)

	// A deactivated medication (14) exists, and nobody may order it.
	lines = []pyxis.Line{{MedicationID: 11, Quantity: 1}, {MedicationID: 14, Quantity: 1}}
	_, err = s.Create(context.Background(), NewRequest{RequestHeader: pyxis.RequestHeader{Requester: nurse, CabinetID: 3, Lines: lines}, IdempotencyKey: "k"})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Kind: Invalid, Message: "a medication of the request is deactivated", Missing: []Missing{{Line: 1, ID: 14, Inactive: true}}}, e)
}

// A withdrawal report is taken from a pharmacist, from the cabinet (its own, when its token
// names one) and from the nurse who made the request at its cabinet; from nobody else.
func TestWithdrawalReporters(t *testing.T) {
	cases := []struct {
		name      string
		by        pyxis.Actor
		byCabinet string
		cabinetID int64
		requestID string
		want      Kind // 0: applied
	}{
		{"a pharmacist", pyxis.Actor{ID: "ph", Role: pyxis.RolePharmacist}, "", 3, reqID, 0},
		{"the cabinet", pyxis.Actor{ID: "cab", Role: pyxis.RoleCabinet}, "ICU-A3", 3, reqID, 0},
		{"a cabinet token naming no cabinet", pyxis.Actor{ID: "cab", Role: pyxis.RoleCabinet}, "", 3, reqID, 0},
		{"another cabinet", pyxis.Actor{ID: "cab", Role: pyxis.RoleCabinet}, "ER-1", 3, reqID, Forbidden},
		{"the requesting nurse", pyxis.Actor{ID: "nurse-ana", Role: pyxis.RoleNurse}, "", 3, reqID, 0},
		{"the requesting nurse at another cabinet", pyxis.Actor{ID: "nurse-ana", Role: pyxis.RoleNurse}, "", 4, reqID, Forbidden},
		{"another nurse", pyxis.Actor{ID: "nurse-cai", Role: pyxis.RoleNurse}, "", 3, reqID, Forbidden},
		{"a nurse, of a request that does not exist", pyxis.Actor{ID: "nurse-ana", Role: pyxis.RoleNurse}, "", 3,
			"medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9Z", NotFound},
		{"a technician", pyxis.Actor{ID: "tech", Role: pyxis.RoleTechnician}, "", 3, reqID, Forbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, w := newFakes(t)
			s := New(store, nil, w, Policy{}, nil)
			st, err := s.ReportWithdrawal(context.Background(), Withdrawal{
				CabinetID: tc.cabinetID, RequestID: tc.requestID, By: tc.by, ByCabinet: tc.byCabinet, ReportID: "r-1",
			})
			assert.Equal(t, tc.want, kindOf(err), "%v", err)
			if tc.want != 0 {
				assert.Empty(t, w.applied, "a refused report reaches no workflow")
				return
			}
			require.Len(t, w.applied, 1)
			assert.Equal(t, tc.requestID, st.ID)
			assert.Equal(t, db.SourceAPI, w.applied[0].Source)
			assert.Equal(t, tc.by, w.applied[0].Actor)
		})
	}
}

// A report the request cannot take now is InvalidState; an unknown cabinet is the store's
// not found, as it is.
func TestWithdrawalNotTaken(t *testing.T) {
	store, w := newFakes(t)
	s := New(store, nil, w, Policy{}, nil)
	pharmacist := pyxis.Actor{ID: "ph", Role: pyxis.RolePharmacist}
	for _, cause := range []error{intake.ErrRefused, intake.ErrNotYet} {
		w.err = fmt.Errorf("vend: %w", cause)
		_, err := s.ReportWithdrawal(context.Background(), Withdrawal{CabinetID: 3, RequestID: reqID, By: pharmacist})
		assert.Equal(t, InvalidState, kindOf(err), "%v", err)
	}
	_, err := s.ReportWithdrawal(context.Background(), Withdrawal{CabinetID: 9, RequestID: reqID, By: pharmacist})
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	assert.Zero(t, kindOf(err))
}

// Every rejection type of the workflows' update validators becomes its refusal, with the
// validator's words and the rejection as the cause; anything else passes as it is.
func TestRefusalOfUpdateRejections(t *testing.T) {
	for typ, kind := range map[string]Kind{
		workflows.ErrInvalidState: InvalidState, workflows.ErrDuplicateApproval: DuplicateApproval,
		workflows.ErrForbidden: Forbidden, workflows.ErrInvalidInput: Invalid,
	} {
		rejection := temporal.NewApplicationError("the words of "+typ, typ)
		err := Refusal(fmt.Errorf("update: %w", rejection))
		var e *Error
		require.ErrorAs(t, err, &e, typ)
		assert.Equal(t, kind, e.Kind, typ)
		assert.Equal(t, "the words of "+typ, e.Message)
		assert.ErrorIs(t, err, rejection)
	}
	other := temporal.NewApplicationError("boom", "SomethingElse")
	assert.Same(t, other, Refusal(other))
	plain := errors.New("connection refused")
	assert.Same(t, plain, Refusal(plain))
	assert.NoError(t, Refusal(nil))
}
