package workflows_test

import (
	"fmt"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

var secondPharmacist = pyxis.Actor{ID: "u-pharm-eve", Name: "Eve Sato", Role: pyxis.RolePharmacist}

// registration is each test pharmacist's professional registration: a request that needs
// two approvals counts only approvals that name one.
var registration = map[string]string{
	pharmacist.ID:       "CRF-SP 1001",
	secondPharmacist.ID: "CRF-SP 1002",
	thirdPharmacist.ID:  "CRF-SP 1003",
}

// registered is an approval by a, with a's registration, as the API sends it.
func registered(a pyxis.Actor, note string) workflows.ApproveInput {
	return workflows.ApproveInput{Actor: a, Note: note, Registration: registration[a.ID]}
}

func dualInput() workflows.Input {
	in := validInput()
	in.RequiredApprovals = 2
	return in
}

// A request with a controlled medication of a dual-approval list waits for two different
// pharmacists; the first approval is audited at once and changes no status.
func (s *MedicationRequestTestSuite) TestDualApprovalNeedsTwoPharmacists() {
	first := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, registered(pharmacist, "dose checked"))
	mid := s.queryAt(6 * time.Minute)
	second := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, registered(secondPharmacist, ""))
	s.sendUpdate(9*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(dualInput())

	afterFirst := s.requireCompleted(first)
	s.Equal(workflows.StatusAwaitingApproval, afterFirst.Status)
	s.Len(afterFirst.Approvals, 1)
	midState := s.requireSnapshot(mid)
	s.Equal(workflows.StatusAwaitingApproval, midState.Status)
	s.EqualValues(2, midState.RequiredApprovals)
	s.Equal(workflows.StatusApproved, s.requireCompleted(second).Status)

	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal([]workflows.Approval{
		{Actor: pharmacist, At: t0.Add(5 * time.Minute), Note: "dose checked", Registration: "CRF-SP 1001"},
		{Actor: secondPharmacist, At: t0.Add(7 * time.Minute), Registration: "CRF-SP 1002"},
	}, st.Approvals)
	var actions []string
	for _, tr := range st.Transitions {
		actions = append(actions, tr.Action)
	}
	s.Equal([]string{"submitted", "stock_reserved", "approval_recorded", "approved", "authorized_at_cabinet", "withdrawn"}, actions)
	s.Equal("approval 1 of 2", st.Transitions[2].Reason)
	s.Equal(workflows.StatusAwaitingApproval, st.Transitions[2].To)
	// The first approval was written when it arrived, not with the second.
	s.Equal(t0.Add(5*time.Minute), st.Transitions[2].At)
	s.assertActivityCalls(map[string]int{"Admit": 1, "RecordStep": 4, "DispenseOrder": 1})
}

// The same pharmacist approving twice is refused as a duplicate and changes nothing.
func (s *MedicationRequestTestSuite) TestDualApprovalRefusesSamePharmacistTwice() {
	first := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, registered(pharmacist, ""))
	before := s.queryAt(5*time.Minute + 30*time.Second)
	again := s.sendUpdate(6*time.Minute, workflows.ApproveUpdate, registered(pharmacist, ""))
	after := s.queryAt(6*time.Minute + 30*time.Second)

	s.execute(dualInput())

	s.Equal(workflows.StatusAwaitingApproval, s.requireCompleted(first).Status)
	s.requireRejected(again, workflows.ErrDuplicateApproval, "this pharmacist has already approved; the second approval must come from a different pharmacist")
	s.Equal(s.requireSnapshot(before), s.requireSnapshot(after))
	// Nobody else approves: the deadline passes with one approval of two.
	st := s.finalState()
	s.Equal(workflows.StatusExpired, st.Status)
	s.Len(st.Approvals, 1)
	s.Equal([]string{"Admit", "RecordStep#3", "RecordStep#4", "RecordStep#5/release"}, s.fake.calls(),
		"the first approval, the escalation, the expiry: nothing for the refused one")
}

// Two user ids of one professional registration are one person: the second approval is
// refused as a duplicate, and a pharmacist of another registration completes it.
func (s *MedicationRequestTestSuite) TestDualApprovalRefusesOneRegistrationTwice() {
	first := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist, Registration: "CRF-SP 1234"})
	again := s.sendUpdate(6*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: secondPharmacist, Registration: "CRF-SP 1234"})
	other := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{
		Actor: pyxis.Actor{ID: "u-pharm-ivo", Role: pyxis.RolePharmacist}, Registration: "CRF-SP 9876"})

	s.execute(dualInput())

	s.Equal(workflows.StatusAwaitingApproval, s.requireCompleted(first).Status)
	s.requireRejected(again, workflows.ErrDuplicateApproval, "this professional registration has already approved; the second approval must come from a different pharmacist")
	approved := s.requireCompleted(other)
	s.Equal(workflows.StatusApproved, approved.Status)
	s.Equal([]string{"CRF-SP 1234", "CRF-SP 9876"}, []string{approved.Approvals[0].Registration, approved.Approvals[1].Registration})
	// The projection keeps each approval's registration with its transition, and the audit
	// entry names it.
	var recorded []string
	for _, r := range s.fake.recorded() {
		if r.Action == "approval_recorded" || r.Action == "approved" {
			recorded = append(recorded, r.Registration+" "+fmt.Sprint(r.Details["registration"]))
		}
	}
	s.Equal([]string{"CRF-SP 1234 CRF-SP 1234", "CRF-SP 9876 CRF-SP 9876"}, recorded)
}

// Escalation and expiry still happen on time when an approval arrives in between.
func (s *MedicationRequestTestSuite) TestDualApprovalDeadlineAfterFirstApproval() {
	s.sendUpdate(10*time.Minute, workflows.ApproveUpdate, registered(pharmacist, ""))

	s.execute(dualInput())

	st := s.finalState()
	s.Equal(workflows.StatusExpired, st.Status)
	s.True(st.Escalated)
	var at []time.Duration
	for _, tr := range st.Transitions[2:] {
		at = append(at, tr.At.Sub(t0))
	}
	s.Equal([]time.Duration{10 * time.Minute, 30 * time.Minute, time.Hour}, at, "approval, escalation at half, expiry at the deadline")
}

// Two accounts without a registration could be one person: neither approval counts towards
// a request that needs two, and nothing changes until registered pharmacists approve.
func (s *MedicationRequestTestSuite) TestDualApprovalNeedsRegistrations() {
	unregistered := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist})
	before := s.queryAt(5*time.Minute + 30*time.Second)
	first := s.sendUpdate(6*time.Minute, workflows.ApproveUpdate, registered(pharmacist, ""))
	secondUnregistered := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: secondPharmacist})
	second := s.sendUpdate(8*time.Minute, workflows.ApproveUpdate, registered(secondPharmacist, ""))

	s.execute(dualInput())

	const msg = "a request that needs two approvals is approved only by pharmacists with a professional registration in the users directory; this account has none"
	s.requireRejected(unregistered, workflows.ErrForbidden, msg)
	s.Empty(s.requireSnapshot(before).Approvals)
	s.Equal(workflows.StatusAwaitingApproval, s.requireCompleted(first).Status)
	s.requireRejected(secondUnregistered, workflows.ErrForbidden, msg)
	s.Equal(workflows.StatusApproved, s.requireCompleted(second).Status)
}
