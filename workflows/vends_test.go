package workflows_test

import (
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// withdrawnAt sends a withdrawal report of lines (none: the whole order) after the offset.
func (s *MedicationRequestTestSuite) withdrawnAt(after time.Duration, lines ...pyxis.Line) *update {
	return s.sendUpdate(after, workflows.WithdrawnUpdate, workflows.WithdrawnInput{Actor: cabinetBot, CabinetID: cabinetID, Lines: lines, ReportID: "MSG-" + after.String()})
}

// Each report is recorded, and consumed, as it comes; the request waits for the lines no
// report named yet, and is dispensed once every line was withdrawn.
func (s *MedicationRequestTestSuite) TestWithdrawalInTwoReports() {
	s.approveAt10()
	first := s.withdrawnAt(12*time.Minute, pyxis.Line{MedicationID: 11, Quantity: 2})
	mid := s.queryAt(13 * time.Minute)
	second := s.withdrawnAt(14*time.Minute, pyxis.Line{MedicationID: 12, Quantity: 1})

	s.execute(validInput())

	s.Equal(workflows.StatusReadyAtCabinet, s.requireCompleted(first).Status)
	st := s.requireSnapshot(mid)
	s.Equal(workflows.StatusReadyAtCabinet, st.Status)
	s.Equal("partially_withdrawn", st.Transitions[4].Action)
	s.Equal("1 of 2 lines withdrawn", st.Transitions[4].Reason)
	s.Equal(workflows.StatusDispensed, s.requireCompleted(second).Status)

	final := s.finalState()
	s.Equal(workflows.StatusDispensed, final.Status)
	s.Equal([]pyxis.Line{{MedicationID: 11, Quantity: 2}, {MedicationID: 12, Quantity: 1}}, final.Vended)
	s.Equal([]string{"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "RecordStep#5", "RecordStep#6/release"}, s.fake.calls())
	vends := s.fake.recordedVends()
	s.Require().Len(vends, 2)
	s.Equal([]pyxis.Line{{MedicationID: 11, Quantity: 2}}, vends[0].Lines)
	s.Equal("MSG-12m0s", vends[0].ReportID)
	s.Equal([]pyxis.Line{{MedicationID: 12, Quantity: 1}}, vends[1].Lines)
	rec := s.fake.recorded()
	s.Equal([]pyxis.Line{{MedicationID: 11, Quantity: 2}}, rec[4].Vended, "the projection learns what each report dispensed")
}

// What the cabinet counted is what is recorded, even when it differs from the order: more
// than ordered, a drug not ordered. The step consumes it and opens the discrepancies
// (db's vend tests); the workflow passes the report on as it came.
func (s *MedicationRequestTestSuite) TestWithdrawalDifferentFromTheOrder() {
	s.approveAt10()
	odd := s.withdrawnAt(12*time.Minute, pyxis.Line{MedicationID: 11, Quantity: 3}, pyxis.Line{MedicationID: 99, Quantity: 1})
	rest := s.withdrawnAt(14 * time.Minute)

	s.execute(validInput())

	s.Equal(workflows.StatusReadyAtCabinet, s.requireCompleted(odd).Status, "medication 12 is still owed")
	s.Equal(workflows.StatusDispensed, s.requireCompleted(rest).Status)
	vends := s.fake.recordedVends()
	s.Require().Len(vends, 2)
	s.Equal([]pyxis.Line{{MedicationID: 11, Quantity: 3}, {MedicationID: 99, Quantity: 1}}, vends[0].Lines)
	s.Equal([]pyxis.Line{{MedicationID: 12, Quantity: 1}}, vends[1].Lines, "a report without lines takes what is still owed")
	s.Equal([]pyxis.Line{{MedicationID: 11, Quantity: 3}, {MedicationID: 99, Quantity: 1}, {MedicationID: 12, Quantity: 1}}, s.finalState().Vended)
}

// A partial withdrawal when the window passes: what was withdrawn stays consumed, the rest is
// released (and, the step finds, a short line opens a discrepancy), the authorization revoked.
func (s *MedicationRequestTestSuite) TestPartialWithdrawalThenWindowPasses() {
	s.approveAt10()
	s.withdrawnAt(12*time.Minute, pyxis.Line{MedicationID: 11, Quantity: 1})

	s.execute(validInput())

	st := s.finalState()
	s.Equal(workflows.StatusExpired, st.Status)
	s.Equal(workflows.ReasonWithdrawalExpired, st.ReasonCode)
	s.Equal([]string{"Admit", "RecordStep#3", "DispenseOrder", "RecordStep#4", "RecordStep#5", "WithdrawOrder", "RecordStep#6/release"}, s.fake.calls())
}

// A report that cannot be right is refused before it is recorded.
func (s *MedicationRequestTestSuite) TestWithdrawalReportRefused() {
	s.approveAt10()
	zero := s.withdrawnAt(12*time.Minute, pyxis.Line{MedicationID: 11, Quantity: 0})
	huge := s.withdrawnAt(13*time.Minute, pyxis.Line{MedicationID: 11, Quantity: workflows.MaxVendQuantity + 1})
	s.withdrawnAt(14 * time.Minute)

	s.execute(validInput())

	s.requireRejected(zero, workflows.ErrInvalidInput, "a withdrawn line needs a medication and a quantity from 1 to 10000")
	s.requireRejected(huge, workflows.ErrInvalidInput, "a withdrawn line needs a medication and a quantity from 1 to 10000")
	s.Equal(workflows.StatusDispensed, s.finalState().Status)
}

// A report holds at most 50 lines: one more is refused before it reaches history, the 50th
// is taken.
func (s *MedicationRequestTestSuite) TestWithdrawalReportOfAtMost50Lines() {
	lines := func(n int) []pyxis.Line {
		out := make([]pyxis.Line, n)
		for i := range out {
			out[i] = pyxis.Line{MedicationID: int64(100 + i), Quantity: 1}
		}
		return out
	}
	s.approveAt10()
	tooMany := s.withdrawnAt(12*time.Minute, lines(51)...)
	most := s.withdrawnAt(13*time.Minute, lines(50)...)
	s.withdrawnAt(14 * time.Minute)

	s.execute(validInput())

	s.requireRejected(tooMany, workflows.ErrInvalidInput, "a withdrawal report has at most 50 lines")
	s.Equal(workflows.StatusReadyAtCabinet, s.requireCompleted(most).Status, "no ordered line was named yet")
	st := s.finalState()
	s.Equal(workflows.StatusDispensed, st.Status)
	s.Len(st.Vended, 52, "the 50 lines taken, and the order")
}
