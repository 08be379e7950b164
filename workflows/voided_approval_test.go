package workflows_test

import (
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

var thirdPharmacist = pyxis.Actor{ID: "u-pharm-ivo", Name: "Ivo Rocha", Role: pyxis.RolePharmacist}

// An approval whose pharmacist has been deactivated since does not count toward the second
// sign-off: the API names that pharmacist in the next approval's Voided, and the workflow
// voids the first approval (audited) before counting, so the request keeps waiting for a
// second active pharmacist.
func (s *MedicationRequestTestSuite) TestDeactivatedPharmacistsApprovalIsVoided() {
	s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, registered(pharmacist, "dose checked"))
	voiding := registered(secondPharmacist, "")
	voiding.Voided = []string{pharmacist.ID}
	second := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, voiding)
	third := s.sendUpdate(8*time.Minute, workflows.ApproveUpdate, registered(thirdPharmacist, ""))
	s.sendUpdate(9*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(dualInput())

	afterSecond := s.requireCompleted(second)
	s.Equal(workflows.StatusAwaitingApproval, afterSecond.Status, "the second approval alone does not complete it")
	s.Equal([]workflows.Approval{{Actor: secondPharmacist, At: t0.Add(7 * time.Minute), Registration: "CRF-SP 1002"}}, afterSecond.Approvals)
	s.Equal(workflows.StatusApproved, s.requireCompleted(third).Status)

	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Equal([]workflows.Approval{
		{Actor: secondPharmacist, At: t0.Add(7 * time.Minute), Registration: "CRF-SP 1002"},
		{Actor: thirdPharmacist, At: t0.Add(8 * time.Minute), Registration: "CRF-SP 1003"},
	}, st.Approvals)
	at := t0.Add(7 * time.Minute)
	s.Equal([]workflows.Transition{
		trc(4, workflows.StatusAwaitingApproval, workflows.StatusAwaitingApproval, "approval_voided", pyxis.System, at, "",
			"the approval of u-pharm-ben no longer counts: the user is deactivated"),
		trc(5, workflows.StatusAwaitingApproval, workflows.StatusAwaitingApproval, "approval_recorded", secondPharmacist, at, "", "approval 1 of 2"),
		trc(6, workflows.StatusAwaitingApproval, workflows.StatusApproved, "approved", thirdPharmacist, t0.Add(8*time.Minute), "", ""),
	}, st.Transitions[3:6])
	// The projection learns whose approval was voided from the transition's note.
	var voided []string
	for _, r := range s.fake.recorded() {
		if r.Action == "approval_voided" {
			voided = append(voided, r.Note)
		}
	}
	s.Equal([]string{pharmacist.ID}, voided)
}

// Voided names that hold no approval change nothing: no transition, the approval counts.
func (s *MedicationRequestTestSuite) TestVoidedWithoutApprovalChangesNothing() {
	s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, registered(pharmacist, ""))
	voiding := registered(secondPharmacist, "")
	voiding.Voided = []string{"u-pharm-gone"}
	second := s.sendUpdate(7*time.Minute, workflows.ApproveUpdate, voiding)
	s.sendUpdate(9*time.Minute, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID})

	s.execute(dualInput())

	s.Equal(workflows.StatusApproved, s.requireCompleted(second).Status)
	for _, tr := range s.finalState().Transitions {
		s.NotEqual("approval_voided", tr.Action)
	}
}

// A voided name that holds text history must not keep is refused by the validator.
func (s *MedicationRequestTestSuite) TestVoidedApproverTextIsChecked() {
	bad := s.sendUpdate(5*time.Minute, workflows.ApproveUpdate, workflows.ApproveInput{Actor: pharmacist, Voided: []string{"x\x00y"}})
	s.execute(validInput())
	s.requireRejected(bad, workflows.ErrInvalidInput, "voided approver contains a NUL character (byte 1)")
}
