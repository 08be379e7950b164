package workflows_test

import (
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// A second approval is refused as InvalidState and changes nothing.
func (s *MedicationRequestTestSuite) TestApproveTwice() {
	first := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	before := s.queryAt(5*time.Minute + 30*time.Second)
	second := s.sendUpdate(6*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pyxis.Actor{ID: "u-pharm-eve", Role: pyxis.RolePharmacist}})
	after := s.queryAt(6*time.Minute + 30*time.Second)
	s.sendUpdate(8*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.Equal(workflows.StatusApproved, s.requireCompleted(first).Status)
	s.requireRejected(second, workflows.ErrInvalidState, "cannot approve a request that is ready_at_cabinet")
	s.Equal(s.requireSnapshot(before), s.requireSnapshot(after))
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal([]workflows.Approval{{Actor: pharmacist, At: t0.Add(5 * time.Minute)}}, st.Approvals)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 1})
}

// Two approvals delivered in the same instant: the first wins, the second sees it.
func (s *MedicationRequestTestSuite) TestApproveTwiceSameInstant() {
	first := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	second := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	s.sendUpdate(8*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.requireCompleted(first)
	s.requireRejected(second, workflows.ErrInvalidState, "cannot approve a request that is approved")
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Len(st.Approvals, 1)
	s.Len(st.Transitions, 5)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 1})
}

// Only a pharmacist other than the requester may approve; a refused approval leaves the
// request waiting.
func (s *MedicationRequestTestSuite) TestApproveForbidden() {
	cases := []struct {
		name  string
		actor pyxis.Actor
		msg   string
	}{
		{"another nurse", otherNurse, "only a pharmacist may approve"},
		{"the requesting nurse", nurse, "only a pharmacist may approve"},
		{"a technician", technician, "only a pharmacist may approve"},
		{"the requester as pharmacist", pyxis.Actor{ID: nurse.ID, Role: pyxis.RolePharmacist}, "the requester may not approve their own request"},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			approve := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: tc.actor})
			waiting := s.queryAt(6 * time.Minute)
			s.sendUpdate(7*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "re-order needed"})

			s.execute(validInput())

			s.requireRejected(approve, workflows.ErrForbidden, tc.msg)
			st := s.requireSnapshot(waiting)
			s.Equal(workflows.StatusAwaitingApproval, st.Status)
			s.Empty(st.Approvals)
			s.Len(st.Transitions, 2)
			final := s.finalState()
			s.Equal(workflows.StatusRejected, final.Status)
			s.Empty(final.Approvals)
			s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
		})
	}
}

// A pharmacist's rejection ends the request and releases its stock.
func (s *MedicationRequestTestSuite) TestRejectWithReason() {
	const reason = "duplicate of an active order"
	in := validInput()
	reject := s.sendUpdate(10*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: reason})

	s.execute(in)

	s.Equal(workflows.StatusRejected, s.requireCompleted(reject).Status)
	wantTransitions := []workflows.Transition{
		tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
		tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""),
		tr(3, workflows.StatusAwaitingApproval, workflows.StatusRejected, "rejected", pharmacist, t0.Add(10*time.Minute), reason),
	}
	st := s.finalState()
	s.Equal(workflows.StatusRejected, st.Status)
	s.Equal(reason, st.Reason)
	s.Equal(wantTransitions, st.Transitions)
	s.Equal(t0.Add(10*time.Minute), st.UpdatedAt)
	s.Equal([]string{"Admit", "RecordStep#3/release"}, s.fake.calls())
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
	s.assertRecorded(in, wantTransitions)
	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
}

// A rejection without a reason, or by someone not a pharmacist, is refused and changes nothing.
func (s *MedicationRequestTestSuite) TestRejectRefused() {
	cases := []struct {
		name    string
		in      workflows.RejectInput
		errType string
		msg     string
	}{
		{"empty reason", workflows.RejectInput{Actor: pharmacist}, workflows.ErrInvalidInput, "a rejection needs a reason"},
		{"blank reason", workflows.RejectInput{Actor: pharmacist, Reason: " \t"}, workflows.ErrInvalidInput, "a rejection needs a reason"},
		{"by a nurse", workflows.RejectInput{Actor: otherNurse, Reason: "not needed"}, workflows.ErrForbidden, "only a pharmacist may reject"},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			before := s.queryAt(4 * time.Minute)
			refused := s.sendUpdate(5*time.Minute, workflows.RejectUpdate, tc.in)
			after := s.queryAt(6 * time.Minute)
			s.sendUpdate(7*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "dose too high"})

			s.execute(validInput())

			s.requireRejected(refused, tc.errType, tc.msg)
			s.Equal(s.requireSnapshot(before), s.requireSnapshot(after))
			s.Equal(workflows.StatusAwaitingApproval, after.state.Status)
			st := s.finalState()
			s.Equal(workflows.StatusRejected, st.Status)
			s.Equal("dose too high", st.Reason)
			s.Len(st.Transitions, 3)
			s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
		})
	}
}

// The requesting nurse or any pharmacist may cancel a request awaiting approval; its stock is
// released and no cabinet is involved.
func (s *MedicationRequestTestSuite) TestCancelWhileAwaitingApproval() {
	cases := []struct {
		name   string
		in     workflows.CancelInput
		reason string
	}{
		{"requesting nurse", workflows.CancelInput{Actor: nurse}, "cancelled by nurse"},
		{"requesting nurse with reason", workflows.CancelInput{Actor: nurse, Reason: "patient transferred"}, "patient transferred"},
		{"pharmacist", workflows.CancelInput{Actor: pharmacist, Reason: "order discontinued"}, "order discontinued"},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			in := validInput()
			cancel := s.sendUpdate(10*time.Minute, workflows.CancelUpdate, tc.in)

			s.execute(in)

			s.Equal(workflows.StatusCancelled, s.requireCompleted(cancel).Status)
			wantTransitions := []workflows.Transition{
				tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
				tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""),
				tr(3, workflows.StatusAwaitingApproval, workflows.StatusCancelled, "cancelled", tc.in.Actor, t0.Add(10*time.Minute), tc.reason),
			}
			st := s.finalState()
			s.Equal(workflows.StatusCancelled, st.Status)
			s.Equal(tc.reason, st.Reason)
			s.Equal(wantTransitions, st.Transitions)
			s.Equal([]string{"Admit", "RecordStep#3/release"}, s.fake.calls())
			s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
			s.assertRecorded(in, wantTransitions)
		})
	}
}

// Nobody but the requesting nurse or a pharmacist may cancel.
func (s *MedicationRequestTestSuite) TestCancelForbidden() {
	cases := []struct {
		name  string
		actor pyxis.Actor
		msg   string
	}{
		{"another nurse", otherNurse, "a nurse may cancel only their own requests"},
		{"a technician", technician, "only the requesting nurse or a pharmacist may cancel"},
		{"a cabinet", cabinetBot, "only the requesting nurse or a pharmacist may cancel"},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			cancel := s.sendUpdate(5*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: tc.actor, Reason: "not mine"})
			waiting := s.queryAt(6 * time.Minute)
			s.sendUpdate(7*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse})

			s.execute(validInput())

			s.requireRejected(cancel, workflows.ErrForbidden, tc.msg)
			s.Equal(workflows.StatusAwaitingApproval, s.requireSnapshot(waiting).Status)
			s.Len(waiting.state.Transitions, 2)
			st := s.finalState()
			s.Equal(workflows.StatusCancelled, st.Status)
			s.Equal(nurse, st.Transitions[2].Actor)
			s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
		})
	}
}

// Without a decision the request is escalated at half its approval deadline and expires at
// the deadline; its stock is released and no cabinet is involved.
func (s *MedicationRequestTestSuite) TestApprovalDeadlineEscalatesThenExpires() {
	for _, timeout := range []time.Duration{time.Hour, 10 * time.Minute} {
		s.Run(timeout.String(), func() {
			half := timeout / 2
			in := validInput()
			in.Policy.ApprovalTimeout = timeout
			beforeHalf := s.queryAt(half - time.Second)
			afterHalf := s.queryAt(half + time.Second)

			s.execute(in)

			st := s.requireSnapshot(beforeHalf)
			s.False(st.Escalated)
			s.Len(st.Transitions, 2)
			st = s.requireSnapshot(afterHalf)
			s.True(st.Escalated)
			s.Equal(workflows.StatusAwaitingApproval, st.Status)
			s.Len(st.Transitions, 3)

			wantTransitions := []workflows.Transition{
				tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
				tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""),
				tr(3, workflows.StatusAwaitingApproval, workflows.StatusAwaitingApproval, "escalated", pyxis.System, t0.Add(half), "no decision after "+half.String()),
				tr(4, workflows.StatusAwaitingApproval, workflows.StatusExpired, "approval_deadline_passed", pyxis.System, t0.Add(timeout), "no pharmacist decision within "+timeout.String()),
			}
			final := s.finalState()
			s.Equal(workflows.StatusExpired, final.Status)
			s.True(final.Escalated)
			s.Equal("no pharmacist decision within "+timeout.String(), final.Reason)
			s.Equal(wantTransitions, final.Transitions)
			s.Equal(at(t0.Add(timeout)), final.ApprovalDeadline)
			s.Equal(t0.Add(timeout), s.env.Now().UTC())
			s.Equal([]string{
				"Admit", "RecordStep#3", "RecordStep#4/release",
			}, s.fake.calls())
			s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 2})
			s.assertRecorded(in, wantTransitions)
		})
	}
}

// A decision after the escalation still counts, and the deadline timer does not fire later.
func (s *MedicationRequestTestSuite) TestApprovalAfterEscalation() {
	approve := s.sendUpdate(45*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	s.sendUpdate(50*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.requireCompleted(approve)
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.True(st.Escalated)
	s.Empty(st.Reason)
	actions := make([]string, len(st.Transitions))
	for i, t := range st.Transitions {
		actions[i] = t.Action
	}
	s.Equal([]string{"submitted", "stock_reserved", "escalated", "approved", "authorized_at_cabinet", "withdrawn"}, actions)
	s.Equal(t0.Add(30*time.Minute), st.Transitions[2].At)
	s.Equal(t0.Add(50*time.Minute), s.env.Now().UTC())
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 4, "DispenseOrder": 1})
}
