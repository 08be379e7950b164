package workflows_test

import (
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/workflows"
)

// The whole lifecycle: submitted → awaiting_approval → approved → ready_at_cabinet → dispensed.
func (s *MedicationRequestTestSuite) TestHappyPathDispensed() {
	in := validInput()
	approve := s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist, Note: "allergies checked"})
	withdrawn := s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(in)

	s.Equal(workflows.StatusApproved, s.requireCompleted(approve).Status)
	s.Equal(workflows.StatusDispensed, s.requireCompleted(withdrawn).Status)

	wantTransitions := []workflows.Transition{
		tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
		tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""),
		tr(3, workflows.StatusAwaitingApproval, workflows.StatusApproved, "approved", pharmacist, t0.Add(10*time.Minute), ""),
		tr(4, workflows.StatusApproved, workflows.StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, t0.Add(10*time.Minute), ""),
		tr(5, workflows.StatusReadyAtCabinet, workflows.StatusDispensed, "withdrawn", cabinetBot, t0.Add(20*time.Minute), ""),
	}
	s.Equal(workflows.State{
		ID:                 requestID,
		Status:             workflows.StatusDispensed,
		RequiredApprovals:  1,
		Priority:           pyxis.PriorityUrgent,
		CabinetID:          cabinetID,
		CabinetCode:        "ICU-A3",
		Patient:            in.Patient,
		Requester:          nurse,
		Lines:              in.Lines,
		Approvals:          []workflows.Approval{{Actor: pharmacist, At: t0.Add(10 * time.Minute), Note: "allergies checked"}},
		Transitions:        wantTransitions,
		Vended:             in.Lines,
		CreatedAt:          t0,
		UpdatedAt:          t0.Add(20 * time.Minute),
		ApprovalDeadline:   at(t0.Add(time.Hour)),
		WithdrawalDeadline: at(t0.Add(25 * time.Minute)),
	}, s.finalState())
	s.Equal(t0.Add(20*time.Minute), s.env.Now().UTC())

	// One step per workflow task: admission with its reservation, the approval, the
	// authorization, and the withdrawal with its consumption.
	// The report named no lines: the whole order, as ordered, consumed with the withdrawal.
	s.Equal([]string{"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "RecordStep#5/release"}, s.fake.calls())
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 1})
	s.assertRecorded(in, wantTransitions)
	s.Equal([]reservation{{requestID: requestID, cabinetID: cabinetID, lines: in.Lines}}, s.fake.reserve)
	s.requirePrepared(in)
	s.Equal([]pyxis.Vend{{CabinetID: cabinetID, Lines: in.Lines, Actor: pyxis.Actor{ID: cabinetBot.ID, Role: cabinetBot.Role},
		Source: "cabinet", At: t0.Add(20 * time.Minute)}}, s.fake.recordedVends())

	// The projection learns the deadlines and the note with the transitions that set them.
	rec := s.fake.recorded()
	s.Equal(at(t0.Add(time.Hour)), rec[1].ApprovalDeadline)
	s.Equal("allergies checked", rec[2].Note)
	s.Equal(at(t0.Add(25*time.Minute)), rec[3].WithdrawalDeadline)
}

// The state query answers at any point with the current status and deadlines.
func (s *MedicationRequestTestSuite) TestStateQueryMidFlight() {
	waiting := s.queryAt(time.Minute)
	s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	ready := s.queryAt(12 * time.Minute)
	s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	st := s.requireSnapshot(waiting)
	s.Equal(t0.Add(time.Minute), waiting.at)
	s.Equal(requestID, st.ID)
	s.Equal(workflows.StatusAwaitingApproval, st.Status)
	s.False(st.Escalated)
	s.Equal(at(t0.Add(time.Hour)), st.ApprovalDeadline)
	s.Nil(st.WithdrawalDeadline)
	s.Empty(st.Approvals)
	s.Len(st.Transitions, 2)

	st = s.requireSnapshot(ready)
	s.Equal(workflows.StatusReadyAtCabinet, st.Status)
	s.Equal(at(t0.Add(25*time.Minute)), st.WithdrawalDeadline)
	s.Equal([]workflows.Approval{{Actor: pharmacist, At: t0.Add(10 * time.Minute)}}, st.Approvals)
	s.Len(st.Transitions, 4)
	s.Equal(t0.Add(10*time.Minute), st.UpdatedAt)

	s.Equal(workflows.StatusDispensed, s.finalState().Status)
}

// A request the workflow cannot run fails at once, without retry, before any activity.
func (s *MedicationRequestTestSuite) TestInvalidInputFailsWithoutActivities() {
	cases := []struct {
		name   string
		change func(*workflows.Input)
		msg    string
	}{
		{"no lines", func(in *workflows.Input) { in.Lines = nil }, "at least one line is required"},
		{"bad priority", func(in *workflows.Input) { in.Priority = "asap" }, `unknown priority "asap"`},
		{"zero quantity", func(in *workflows.Input) { in.Lines[1].Quantity = 0 }, "medication 12: quantity must be positive"},
		{"no requester", func(in *workflows.Input) { in.Requester = pyxis.Actor{} }, "requester is required"},
		{"no patient", func(in *workflows.Input) { in.Patient.MRN = "" }, "patient MRN is required"},
		{"no cabinet", func(in *workflows.Input) { in.CabinetID = 0 }, "cabinet is required"},
		{"no withdrawal window", func(in *workflows.Input) { in.Policy.WithdrawalTimeout = 0 }, "policy timeouts must be positive"},
		{"no required approvals", func(in *workflows.Input) { in.RequiredApprovals = 0 }, "required approvals must be 1 or 2, not 0"},
		{"three approvals", func(in *workflows.Input) { in.RequiredApprovals = 3 }, "required approvals must be 1 or 2, not 3"},
		{"several at once", func(in *workflows.Input) { in.Priority = ""; in.Lines = []pyxis.Line{} },
			strings.Join([]string{`unknown priority ""`, "at least one line is required"}, "\n")},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			in := validInput()
			tc.change(&in)

			s.execute(in)

			err := s.env.GetWorkflowError()
			s.Require().Error(err)
			var appErr *temporal.ApplicationError
			s.Require().True(errors.As(err, &appErr), "error is %T: %v", err, err)
			s.Equal(workflows.ErrInvalidInput, appErr.Type())
			s.True(appErr.NonRetryable())
			s.Equal(tc.msg, appErr.Message())
			s.Empty(s.fake.calls())
			s.assertActivityCalls(nil)
		})
	}
}

// Too little stock fails the request with the activity's reason; nothing was reserved, so
// nothing is released, and no cabinet is involved.
func (s *MedicationRequestTestSuite) TestInsufficientStockFails() {
	const reason = "insufficient stock of medication 11: requested 2, available 1"
	s.fake.reserveErr = always(temporal.NewNonRetryableApplicationError(reason, activities.ErrInsufficientStock, nil))
	in := validInput()

	s.execute(in)

	wantTransitions := []workflows.Transition{
		tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
		tr(2, workflows.StatusSubmitted, workflows.StatusFailed, "reserve_failed", pyxis.System, t0, reason),
	}
	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(reason, st.Reason)
	s.Equal(wantTransitions, st.Transitions)
	s.Nil(st.ApprovalDeadline)
	s.Empty(st.Approvals)
	// The failure is recorded with the admission: one step, nothing to release.
	s.Equal([]string{"Admit"}, s.fake.calls())
	s.assertActivityCalls(map[string]int{"Admit": 1})
	s.assertRecorded(in, wantTransitions)
}

// A database outage delays a request but does not fail it: the admission is retried with the
// database back-off (500ms, then 1s) until it succeeds. Every attempt writes the same
// transitions, stamped when the workflow decided them.
func (s *MedicationRequestTestSuite) TestAdmissionRetriedThroughOutage() {
	s.fake.reserveErr = failFirst(2, errors.New("connect: connection refused"))
	cancel := s.sendUpdate(10*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse})

	s.execute(validInput())

	s.requireCompleted(cancel)
	st := s.finalState()
	s.Equal(workflows.StatusCancelled, st.Status)
	s.Equal(tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""), st.Transitions[1])
	s.Equal(at(t0.Add(time.Hour)), st.ApprovalDeadline)
	s.assertActivityCalls(map[string]int{"Admit": 3, "RecordStep": 1})
	s.Equal([]string{"Admit", "Admit", "Admit", "RecordStep#3/release"}, s.fake.calls())
}

// Updates are refused while the stock is still being reserved: the request is not yet
// awaiting approval.
func (s *MedicationRequestTestSuite) TestUpdatesRefusedWhileSubmitted() {
	s.admitCall.After(2 * time.Minute)
	approve := s.sendUpdate(time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	cancel := s.sendUpdate(time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse})
	submitted := s.queryAt(90 * time.Second)
	reject := s.sendUpdate(5*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "wrong patient"})

	s.execute(validInput())

	s.requireRejected(approve, workflows.ErrInvalidState, "cannot approve a request that is submitted")
	s.requireRejected(cancel, workflows.ErrInvalidState, "cannot cancel a request that is submitted")
	s.Equal(workflows.StatusSubmitted, s.requireSnapshot(submitted).Status)
	s.requireCompleted(reject)

	st := s.finalState()
	s.Equal(workflows.StatusRejected, st.Status)
	// Stamped when the admission was decided; the deadline runs from then.
	s.Equal(t0, st.Transitions[1].At)
	s.Equal(at(t0.Add(time.Hour)), st.ApprovalDeadline)
	s.Empty(st.Approvals)
}

// A Temporal cancellation (an operator's Cancel in the Web UI or CLI) must still compensate:
// no reservation is leaked and no authorization outlives it.
func (s *MedicationRequestTestSuite) TestTemporalCancellationCompensates() {
	cases := []struct {
		name     string
		approve  bool
		revokes  int
		cancelAt time.Duration
	}{
		{"awaiting approval", false, 0, 10 * time.Minute},
		{"ready at cabinet", true, 1, 12 * time.Minute},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			if tc.approve {
				s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
			}
			s.env.RegisterDelayedCallback(s.env.CancelWorkflow, tc.cancelAt)

			s.execute(validInput())

			s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
			s.env.AssertActivityNumberOfCalls(s.T(), "WithdrawOrder", tc.revokes)
		})
	}
}

// A step the database refuses for good (data Postgres cannot store slipped through) does not
// retry forever: the request fails with invalid_data, its stock released, and the run ends.
func (s *MedicationRequestTestSuite) TestStepRefusedForGoodEndsTheRequest() {
	s.fake.stepErr = func(attempt int) error {
		if attempt == 1 {
			return temporal.NewNonRetryableApplicationError("record step: invalid data", activities.ErrInvalidData, nil)
		}
		return nil
	}
	s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist, Note: "ok"})

	s.execute(validInput())

	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(workflows.ReasonInvalidData, st.ReasonCode)
	s.Equal([]string{"Admit", "RecordStep#3", "RecordStep#3,4/release"}, s.fake.calls())
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 2})
}

// Text that must not reach history or the database is refused by the update validators,
// whatever the API let through.
func (s *MedicationRequestTestSuite) TestUpdatesRefuseControlCharacters() {
	nul := s.sendUpdate(time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "wrong\x00dose"})
	esc := s.sendUpdate(2*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist, Note: "\x1b[2J"})
	// (Invalid UTF-8 cannot arrive here: JSON turns it into U+FFFD on the way; the API
	// refuses it before decoding.)
	del := s.sendUpdate(3*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse, Reason: "bad \x7f"})
	name := s.sendUpdate(4*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pyxis.Actor{ID: "p\x00", Role: pyxis.RolePharmacist}})
	ok := s.sendUpdate(5*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "two\nlines\tare fine"})

	s.execute(validInput())

	s.requireRejected(nul, workflows.ErrInvalidInput, "reason contains a NUL character (byte 5)")
	s.requireRejected(esc, workflows.ErrInvalidInput, "note contains a control character 0x1B (byte 0)")
	s.requireRejected(del, workflows.ErrInvalidInput, "reason contains a control character 0x7F (byte 4)")
	s.requireRejected(name, workflows.ErrInvalidInput, "actor id contains a NUL character (byte 1)")
	s.requireCompleted(ok)
	s.Equal(workflows.StatusRejected, s.finalState().Status)
}

// An operator's cancellation while the admission is still in the database: the run releases
// whatever the admission may have held (the database settles the request, so an admission
// that commits late holds nothing; db's TestReleaseSettlesBeforeALateAdmission).
func (s *MedicationRequestTestSuite) TestTemporalCancellationDuringAdmission() {
	s.admitCall.After(2 * time.Minute)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Minute)

	s.execute(validInput())

	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
	s.env.AssertActivityNumberOfCalls(s.T(), "DispenseOrder", 0)
}
