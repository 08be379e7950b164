package workflows_test

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/workflows"
)

// unreachableMsg is what a transport failure says inside: an address that must never reach
// a request's reason.
const unreachableMsg = "command cabinet ICU-A3: dial tcp 10.1.2.3:2576: connect: connection refused"

// unreachable is the reason a request shows after attempts unanswered commands.
func unreachable(attempts int) string {
	return fmt.Sprintf("the cabinet did not answer (%d attempts)", attempts)
}

var (
	approvedAt     = t0.Add(10 * time.Minute)
	errUnreachable = errors.New(unreachableMsg)
)

// approveAt10 approves the request ten minutes after it starts.
func (s *MedicationRequestTestSuite) approveAt10() *update {
	return s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
}

// firstThree are the transitions every request that reaches the cabinet starts with.
func firstThree() []workflows.Transition {
	return []workflows.Transition{
		tr(1, "", workflows.StatusSubmitted, "submitted", nurse, t0, ""),
		tr(2, workflows.StatusSubmitted, workflows.StatusAwaitingApproval, "stock_reserved", pyxis.System, t0, ""),
		tr(3, workflows.StatusAwaitingApproval, workflows.StatusApproved, "approved", pharmacist, approvedAt, ""),
	}
}

// A cabinet that refuses fails the request at once: stock released, nothing to revoke.
func (s *MedicationRequestTestSuite) TestCabinetRefuses() {
	// The cabinet's own words come as the error's detail; the request shows them, cleaned,
	// after the fixed phrase.
	const reason = "the cabinet refused the order: drawer 4 jammed\uFFFD"
	s.fake.authorizeErr = always(temporal.NewNonRetryableApplicationError("cabinet ICU-A3 refused: drawer 4 jammed",
		activities.ErrCabinetRefused, nil, "drawer 4 jammed\x00"))
	in := validInput()
	s.approveAt10()

	s.execute(in)

	want := append(firstThree(),
		trc(4, workflows.StatusApproved, workflows.StatusFailed, "cabinet_failed", pyxis.System, approvedAt, workflows.ReasonCabinetRefused, reason))
	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(reason, st.Reason)
	s.Equal(want, st.Transitions)
	s.Nil(st.WithdrawalDeadline)
	s.Equal([]string{
		"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4/release",
	}, s.fake.calls())
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 2, "DispenseOrder": 1})
	s.assertRecorded(in, want)
}

// An unreachable cabinet is tried Policy.CabinetAttempts times with the policy's back-off;
// then the authorization is revoked in case a command got through, the stock released, and
// the request failed.
func (s *MedicationRequestTestSuite) TestCabinetUnreachable() {
	cases := []struct {
		attempts int32
		failedAt time.Time
	}{
		{1, approvedAt},
		{3, approvedAt.Add(2*time.Second + 4*time.Second)},
	}
	for _, tc := range cases {
		s.Run(fmt.Sprintf("%d attempts", tc.attempts), func() {
			s.fake.authorizeErr = always(errUnreachable)
			in := validInput()
			in.Policy.CabinetAttempts = tc.attempts
			s.approveAt10()

			s.execute(in)

			want := append(firstThree(),
				trc(4, workflows.StatusApproved, workflows.StatusFailed, "cabinet_failed", pyxis.System, tc.failedAt,
					workflows.ReasonCabinetUnreachable, unreachable(int(tc.attempts))))
			st := s.finalState()
			s.Equal(workflows.StatusFailed, st.Status)
			s.Equal(unreachable(int(tc.attempts)), st.Reason)
			s.Equal(workflows.ReasonCabinetUnreachable, st.ReasonCode)
			s.Equal(want, st.Transitions)
			s.Nil(st.WithdrawalDeadline)
			s.assertActivityCalls(map[string]int{
				"Admit": 1, "RecordStep": 2, "DispenseOrder": int(tc.attempts), "WithdrawOrder": 1,
			})
			calls := s.fake.calls()
			s.Equal([]string{"WithdrawOrder", "RecordStep#4/release"}, calls[len(calls)-2:])
			s.requirePrepared(in)
			s.assertRecorded(in, want)
		})
	}
}

// Revoking is best effort: a cabinet that stays unreachable gets three revoke attempts,
// whatever the policy says, the failure is audited, and the stock is released all the same.
func (s *MedicationRequestTestSuite) TestCabinetUnreachableRevokeFails() {
	s.fake.authorizeErr = always(errUnreachable)
	s.fake.revokeErr = always(errUnreachable)
	in := validInput()
	in.Policy.CabinetAttempts = 2
	s.approveAt10()

	s.execute(in)

	// Authorize at +0s and +2s; revoke at +2s, +4s and +8s.
	end := approvedAt.Add(8 * time.Second)
	want := append(firstThree(),
		trc(4, workflows.StatusApproved, workflows.StatusApproved, "revoke_failed", pyxis.System, end, workflows.ReasonCabinetUnreachable, unreachable(3)),
		trc(5, workflows.StatusApproved, workflows.StatusFailed, "cabinet_failed", pyxis.System, end, workflows.ReasonCabinetUnreachable, unreachable(2)))
	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(want, st.Transitions)
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 2, "DispenseOrder": 2, "WithdrawOrder": 3,
	})
	s.assertRecorded(in, want)
}

// A cabinet that answers within the attempts makes the request ready; meanwhile the request
// cannot be cancelled (it is approved, not yet at the cabinet), and a withdrawal the cabinet
// reports before its answer arrives is early, not wrong: the reporter tries it again.
func (s *MedicationRequestTestSuite) TestCabinetRecoversWithinAttempts() {
	s.fake.authorizeErr = failFirst(2, errUnreachable)
	s.approveAt10()
	cancel := s.sendUpdate(10*time.Minute+3*time.Second, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse})
	early := s.sendUpdate(10*time.Minute+4*time.Second, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})
	withdrawn := s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.requireRejected(cancel, workflows.ErrInvalidState, "cannot cancel a request that is approved")
	s.requireRejected(early, workflows.ErrNotYet, "the cabinet's authorization of this request is still being confirmed")
	s.requireCompleted(withdrawn)
	ready := approvedAt.Add(6 * time.Second)
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal(tr(4, workflows.StatusApproved, workflows.StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, ready, ""), st.Transitions[3])
	s.Equal(at(ready.Add(15*time.Minute)), st.WithdrawalDeadline)
	s.Empty(st.Reason)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 3})
}

// An authorization nobody uses expires with the withdrawal window: it is revoked first, then
// the stock released; nothing is consumed.
func (s *MedicationRequestTestSuite) TestWithdrawalWindowPasses() {
	in := validInput()
	s.approveAt10()
	ready := s.queryAt(24 * time.Minute)

	s.execute(in)

	s.Equal(workflows.StatusReadyAtCabinet, s.requireSnapshot(ready).Status)
	deadline := approvedAt.Add(15 * time.Minute)
	want := append(firstThree(),
		tr(4, workflows.StatusApproved, workflows.StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, approvedAt, ""),
		tr(5, workflows.StatusReadyAtCabinet, workflows.StatusExpired, "withdrawal_window_passed", pyxis.System, deadline, "not withdrawn within 15m0s"))
	st := s.finalState()
	s.Equal(workflows.StatusExpired, st.Status)
	s.Equal("not withdrawn within 15m0s", st.Reason)
	s.Equal(want, st.Transitions)
	s.Equal(at(deadline), st.WithdrawalDeadline)
	s.Equal(deadline, s.env.Now().UTC())
	s.Equal([]string{
		"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "WithdrawOrder", "RecordStep#5/release",
	}, s.fake.calls())
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 3, "DispenseOrder": 1, "WithdrawOrder": 1,
	})
	s.requirePrepared(in)
	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
	s.assertRecorded(in, want)
}

// When the window passes and the revoke fails, the expiry stands, the failure is audited
// and the stock is still released.
func (s *MedicationRequestTestSuite) TestWithdrawalWindowPassesRevokeFails() {
	s.fake.revokeErr = always(errUnreachable)
	s.approveAt10()

	s.execute(validInput())

	deadline := approvedAt.Add(15 * time.Minute)
	st := s.finalState()
	s.Equal(workflows.StatusExpired, st.Status)
	s.Equal("not withdrawn within 15m0s", st.Reason)
	s.Require().Len(st.Transitions, 6)
	s.Equal(trc(6, workflows.StatusExpired, workflows.StatusExpired, "revoke_failed", pyxis.System, deadline.Add(6*time.Second),
		workflows.ReasonCabinetUnreachable, unreachable(3)), st.Transitions[5])
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 3, "DispenseOrder": 1, "WithdrawOrder": 3,
	})
}

// Cancelling a request that is ready at the cabinet revokes the authorization, then releases.
func (s *MedicationRequestTestSuite) TestCancelWhileReadyAtCabinet() {
	in := validInput()
	s.approveAt10()
	cancel := s.sendUpdate(15*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse, Reason: "patient refused"})

	s.execute(in)

	s.Equal(workflows.StatusCancelled, s.requireCompleted(cancel).Status)
	want := append(firstThree(),
		tr(4, workflows.StatusApproved, workflows.StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, approvedAt, ""),
		tr(5, workflows.StatusReadyAtCabinet, workflows.StatusCancelled, "cancelled", nurse, t0.Add(15*time.Minute), "patient refused"))
	st := s.finalState()
	s.Equal(workflows.StatusCancelled, st.Status)
	s.Equal("patient refused", st.Reason)
	s.Equal(want, st.Transitions)
	s.Equal(t0.Add(15*time.Minute), s.env.Now().UTC())
	s.Equal([]string{
		"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "WithdrawOrder", "RecordStep#5/release",
	}, s.fake.calls())
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 3, "DispenseOrder": 1, "WithdrawOrder": 1,
	})
	s.assertRecorded(in, want)
}

// A withdrawal reported by another cabinet is refused and the request stays ready.
func (s *MedicationRequestTestSuite) TestWithdrawnFromWrongCabinet() {
	s.approveAt10()
	wrong := s.sendUpdate(12*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID + 1})
	ready := s.queryAt(13 * time.Minute)
	right := s.sendUpdate(14*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.requireRejected(wrong, workflows.ErrInvalidInput, "the request is not authorized at this cabinet")
	st := s.requireSnapshot(ready)
	s.Equal(workflows.StatusReadyAtCabinet, st.Status)
	s.Len(st.Transitions, 4)
	s.Equal(workflows.StatusDispensed, s.requireCompleted(right).Status)
	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 1})
}

// A withdrawal cannot be reported for a request that is not ready at the cabinet.
func (s *MedicationRequestTestSuite) TestWithdrawnWhileAwaitingApproval() {
	withdrawn := s.sendUpdate(5*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})
	waiting := s.queryAt(6 * time.Minute)
	s.sendUpdate(7*time.Minute, workflows.RejectUpdate, workflows.RejectInput{Actor: pharmacist, Reason: "wrong strength"})

	s.execute(validInput())

	s.requireRejected(withdrawn, workflows.ErrInvalidState, "cannot report a withdrawal for a request that is awaiting_approval")
	s.Equal(workflows.StatusAwaitingApproval, s.requireSnapshot(waiting).Status)
	s.Len(waiting.state.Transitions, 2)
	s.Equal(workflows.StatusRejected, s.finalState().Status)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 1})
}

// The request expires at the WithdrawalDeadline it advertises, even when recording the
// authorization is slow (here a database that takes 5 minutes).
func (s *MedicationRequestTestSuite) TestWithdrawalExpiresAtAdvertisedDeadline() {
	steps := 0
	s.stepCall.AfterFn(func() time.Duration {
		steps++
		if steps == 2 { // authorized_at_cabinet, after approved
			return 5 * time.Minute
		}
		return 0
	})
	s.approveAt10()
	late := s.sendUpdate(27*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	st := s.finalState()
	s.Require().NotNil(st.WithdrawalDeadline)
	s.Equal(approvedAt.Add(15*time.Minute), *st.WithdrawalDeadline)
	s.Equal(workflows.StatusExpired, st.Status)
	s.Equal(*st.WithdrawalDeadline, st.Transitions[4].At)
	s.Equal(*st.WithdrawalDeadline, s.env.Now().UTC())
	s.False(late.accepted, "a withdrawal after the advertised deadline was accepted")
}

// A database outage while the order is prepared delays the command but spends none of the
// cabinet's attempts: the preparation is retried as a database step.
func (s *MedicationRequestTestSuite) TestDatabaseOutageSpendsNoCabinetAttempt() {
	s.fake.prepareErr = failFirst(4, errors.New("connect: connection refused"))
	in := validInput()
	in.Policy.CabinetAttempts = 1
	s.approveAt10()
	s.withdrawnAt(20 * time.Minute)

	s.execute(in)

	s.Equal(workflows.StatusDispensed, s.finalState().Status)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 1})
	s.Len(s.fake.cabinetInputs("PrepareOrder"), 1, "one preparation, retried inside")
}
