package workflows_test

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/workflows"
)

// unreachableMsg is what a transport failure says inside: an address that must never reach
// a request's reason.
const unreachableMsg = "command cabinet ICU-A3: dial tcp 10.1.2.3:2576: connect: connection refused"

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

// windowEnd is when the withdrawal window of validInput closes: it opens when the order is
// first sent, at the approval.
var windowEnd = approvedAt.Add(15 * time.Minute)

// notAcknowledged is the reason of a request whose cabinet never acknowledged what.
func notAcknowledged(what string) string {
	return "the cabinet did not acknowledge " + what + " within the withdrawal window (15m0s)"
}

// An unreachable cabinet does not fail the order after a few attempts: the same order is
// retried with back-off until the withdrawal window closes, and only then does the request
// fail cabinet_unreachable; the authorization is revoked in case an attempt got through,
// and the stock released. Every attempt carries the same order, whose times are fixed when
// it is first sent (so the same bytes go on the wire), and whose end is the window's.
func (s *MedicationRequestTestSuite) TestCabinetOutageOutlastsTheWindow() {
	s.fake.authorizeErr = always(errUnreachable)
	in := validInput()
	s.approveAt10()

	s.execute(in)

	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(workflows.ReasonCabinetUnreachable, st.ReasonCode)
	s.Equal(notAcknowledged("the order"), st.Reason)
	s.Require().Len(st.Transitions, 4)
	failedAt := st.Transitions[3].At
	s.False(failedAt.After(windowEnd), "failed at %s, after the window closed at %s", failedAt, windowEnd)
	s.True(failedAt.After(windowEnd.Add(-time.Minute)), "failed at %s, long before the window closed at %s", failedAt, windowEnd)
	s.Nil(st.WithdrawalDeadline)

	// Back-off from 2s, doubling, at most 30s: some 30 attempts in 15 minutes, all alike.
	sent := s.fake.deliveries("DispenseOrder")
	s.Greater(len(sent), 20)
	first := sent[0]
	s.Equal(int64(cabinetID), first.CabinetID)
	s.Equal(approvedAt, first.IssuedAt)
	s.Equal(approvedAt, first.StartAt)
	s.Equal(windowEnd, first.EndAt)
	for _, d := range sent {
		s.Equal(first, d)
	}
	s.Len(s.fake.cabinetInputs("PrepareOrder"), 1, "the order is prepared once")

	// The revoke repeats the order, issued when it is sent.
	revokes := s.fake.deliveries("WithdrawOrder")
	s.Require().Len(revokes, 1)
	s.Equal(failedAt, revokes[0].IssuedAt)
	s.Equal(windowEnd, revokes[0].EndAt)
	s.False(revokes[0].PartlyDispensed)
	calls := s.fake.calls()
	s.Equal([]string{"WithdrawOrder", "RecordStep#4/release"}, calls[len(calls)-2:])
	s.requirePrepared(in)
}

// A cabinet back within the window gets the order: the request is ready, with the window
// the order carries (not a new one from the acknowledgment).
func (s *MedicationRequestTestSuite) TestCabinetBackWithinTheWindow() {
	s.fake.authorizeErr = failFirst(10, errUnreachable)
	s.approveAt10()
	withdrawn := s.withdrawnAt(20 * time.Minute)

	s.execute(validInput())

	s.requireCompleted(withdrawn)
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal("authorized_at_cabinet", st.Transitions[3].Action)
	s.True(st.Transitions[3].At.After(approvedAt.Add(3*time.Minute)), "ready at %s", st.Transitions[3].At)
	s.Equal(at(windowEnd), st.WithdrawalDeadline)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 11})
}

// A refusal (AE) that follows an attempt which went unanswered is revoked: that attempt may
// have reached the cabinet, which then refused only the resend.
func (s *MedicationRequestTestSuite) TestRefusalAfterUnansweredAttemptIsRevoked() {
	s.fake.authorizeErr = func(attempt int) error {
		if attempt == 1 {
			return errUnreachable
		}
		return temporal.NewNonRetryableApplicationError("cabinet ICU-A3 refused: duplicate order",
			activities.ErrCabinetRefused, nil, "duplicate order", true)
	}
	s.approveAt10()

	s.execute(validInput())

	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Equal(workflows.ReasonCabinetRefused, st.ReasonCode)
	s.Equal("the cabinet refused the order: duplicate order", st.Reason)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 2, "DispenseOrder": 2, "WithdrawOrder": 1})
}

// A revoke the cabinet does not acknowledge after the window closed is tried three times:
// the cabinet ended the order itself (TQ1-8). The failure is audited and the stock released.
func (s *MedicationRequestTestSuite) TestCabinetOutageRevokeFails() {
	s.fake.authorizeErr = always(errUnreachable)
	s.fake.revokeErr = always(errUnreachable)
	in := validInput()
	s.approveAt10()

	s.execute(in)

	st := s.finalState()
	s.Equal(workflows.StatusFailed, st.Status)
	s.Require().Len(st.Transitions, 5)
	s.Equal("revoke_failed", st.Transitions[3].Action)
	s.Equal(notAcknowledged("the cancel"), st.Transitions[3].Reason)
	s.Equal("cabinet_failed", st.Transitions[4].Action)
	s.Equal(notAcknowledged("the order"), st.Transitions[4].Reason)
	s.Greater(len(s.fake.deliveries("WithdrawOrder")), 1)
	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
}

// While the order is being delivered, a withdrawal the cabinet reports before its answer
// arrives is early, not wrong: the reporter tries it again.
func (s *MedicationRequestTestSuite) TestCabinetRecoversWithinAttempts() {
	s.fake.authorizeErr = failFirst(2, errUnreachable)
	s.approveAt10()
	early := s.sendUpdate(10*time.Minute+4*time.Second, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})
	withdrawn := s.sendUpdate(20*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(validInput())

	s.requireRejected(early, workflows.ErrNotYet, "the cabinet's authorization of this request is still being confirmed")
	s.requireCompleted(withdrawn)
	ready := approvedAt.Add(6 * time.Second)
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal(tr(4, workflows.StatusApproved, workflows.StatusReadyAtCabinet, "authorized_at_cabinet", pyxis.System, ready, ""), st.Transitions[3])
	s.Equal(at(windowEnd), st.WithdrawalDeadline)
	s.Empty(st.Reason)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 3, "DispenseOrder": 3})
}

// An order that waits out an outage may be cancelled meanwhile: the delivery stops, the
// cancellation is recorded, the order is revoked (an attempt may have reached the cabinet),
// and the stock released.
func (s *MedicationRequestTestSuite) TestCancelWhileTheOrderWaitsOutAnOutage() {
	s.fake.authorizeErr = always(errUnreachable)
	in := validInput()
	s.approveAt10()
	cancel := s.sendUpdate(13*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse, Reason: "patient discharged"})

	s.execute(in)

	s.Equal(workflows.StatusCancelled, s.requireCompleted(cancel).Status)
	cancelledAt := t0.Add(13 * time.Minute)
	want := append(firstThree(),
		tr(4, workflows.StatusApproved, workflows.StatusCancelled, "cancelled", nurse, cancelledAt, "patient discharged"))
	st := s.finalState()
	s.Equal(want, st.Transitions)
	s.Equal(cancelledAt, s.env.Now().UTC(), "the delivery stopped at the cancellation")
	s.Less(len(s.fake.deliveries("DispenseOrder")), 15)
	revokes := s.fake.deliveries("WithdrawOrder")
	s.Require().Len(revokes, 1)
	s.Equal(cancelledAt, revokes[0].IssuedAt)
	s.Equal([]string{"RecordStep#4", "WithdrawOrder", "RecordStep#/release"}, s.fake.calls()[len(s.fake.calls())-3:])
	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
	s.assertRecorded(in, want)
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

// When the window passes and the revoke fails (three attempts: the order's TQ1-8 ended it at
// the cabinet already), the expiry stands, the failure is audited and the stock is still
// released.
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
		workflows.ReasonCabinetUnreachable, notAcknowledged("the cancel")), st.Transitions[5])
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 3, "DispenseOrder": 1, "WithdrawOrder": 3,
	})
}

// Cancelling a request that is ready at the cabinet records the cancellation at once, then
// revokes the authorization, then releases.
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
		"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "RecordStep#5", "WithdrawOrder", "RecordStep#/release",
	}, s.fake.calls())
	s.assertActivityCalls(map[string]int{
		"Admit": 1, "RecordStep": 4, "DispenseOrder": 1, "WithdrawOrder": 1,
	})
	s.assertRecorded(in, want)
}

// A cancel is retried until the cabinet acknowledges it while the window is open: no
// request is left withdrawable at the cabinet after three tries. The request shows it is
// cancelled meanwhile, and its stock stays held until the cabinet took the cancel. A
// partly withdrawn order is discontinued (PartlyDispensed: DC), not cancelled.
func (s *MedicationRequestTestSuite) TestCancelRetriedUntilAcknowledged() {
	s.fake.revokeErr = failFirst(8, errUnreachable)
	s.approveAt10()
	s.withdrawnAt(12*time.Minute, pyxis.Line{MedicationID: 11, Quantity: 2})
	cancel := s.sendUpdate(13*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse, Reason: "patient refused"})
	cancelled := s.queryAt(13*time.Minute + 30*time.Second)

	s.execute(validInput())

	s.Equal(workflows.StatusCancelled, s.requireCompleted(cancel).Status)
	s.Equal(workflows.StatusCancelled, s.requireSnapshot(cancelled).Status)
	st := s.finalState()
	s.Equal(workflows.StatusCancelled, st.Status)
	s.Equal("patient refused", st.Reason)
	for _, t := range st.Transitions {
		s.NotEqual("revoke_failed", t.Action)
	}
	revokes := s.fake.deliveries("WithdrawOrder")
	s.Len(revokes, 9)
	for _, r := range revokes {
		s.Equal(revokes[0], r, "every attempt of the cancel is the same message")
	}
	s.True(revokes[0].PartlyDispensed)
	s.Equal(t0.Add(13*time.Minute), revokes[0].IssuedAt)
	s.Equal(approvedAt, revokes[0].StartAt)
	s.Equal(windowEnd, revokes[0].EndAt)
	calls := s.fake.calls()
	s.Equal("RecordStep#/release", calls[len(calls)-1])
	s.Equal("WithdrawOrder", calls[len(calls)-2])
}

// A cancel the cabinet never acknowledges is retried until the window closes (after which
// the cabinet no longer offers the order); then the failure is audited and the stock
// released.
func (s *MedicationRequestTestSuite) TestCancelNeverAcknowledged() {
	s.fake.revokeErr = always(errUnreachable)
	s.approveAt10()
	s.sendUpdate(13*time.Minute, workflows.CancelUpdate, workflows.CancelInput{Actor: nurse, Reason: "patient refused"})

	s.execute(validInput())

	st := s.finalState()
	s.Equal(workflows.StatusCancelled, st.Status)
	last := st.Transitions[len(st.Transitions)-1]
	s.Equal("revoke_failed", last.Action)
	s.Equal(notAcknowledged("the cancel"), last.Reason)
	s.False(last.At.Before(windowEnd.Add(-time.Minute)), "gave up at %s, before the window closed at %s", last.At, windowEnd)
	s.Greater(len(s.fake.deliveries("WithdrawOrder")), 20)
	s.Equal([]string{requestID}, s.fake.stockChanges(pyxis.StockRelease))
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
