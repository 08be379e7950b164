package intake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/intake"
)

// listen serves the intake behind the real HL7 listener, with its applier running, and
// returns a function that sends a message (segments joined by CR) and returns the answer's
// MSA-1 and ERR-3.
func listen(t *testing.T, in *intake.Intake) func(segments ...string) (string, string) {
	t.Helper()
	srv := hl7driver.NewEventServer(in, hl7driver.ListenerOptions{}, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	runApplier(t, in)
	c := mllp.NewClient(srv.Addr().String(), mllp.ClientOptions{AckTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return func(segments ...string) (string, string) {
		t.Helper()
		answer, err := c.Send(context.Background(), []byte(strings.Join(segments, "\r")+"\r"))
		require.NoError(t, err)
		m, err := hl7.Parse(answer)
		require.NoError(t, err)
		return m.Segment("MSA").Value(1), m.Segment("ERR").Component(3, 1, 1)
	}
}

func msh(kind, id string) string {
	return `MSH|^~\&|PYX-T1||PYXIS-MEDREQ||20261201080000+0000||` + kind + `|` + id + `|P|2.5`
}

// reviewsOf waits until the cabinet's report is settled in the inbox, and returns the
// override reviews it opened.
func reviewsOf(t *testing.T, f fixture, id string) (string, []db.OverrideReview) {
	t.Helper()
	ctx := context.Background()
	var st db.InboxState
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		st, err = f.store.InboxReportState(ctx, f.cab.ID, id)
		if assert.NoError(ct, err) {
			assert.NotEqual(ct, "pending", st.State)
		}
	}, 10*time.Second, 20*time.Millisecond)
	all, err := f.store.ListOverrideReviews(ctx, db.OverrideFilter{})
	require.NoError(t, err)
	var mine []db.OverrideReview
	for _, o := range all {
		if o.MessageControlID == id {
			mine = append(mine, o)
		}
	}
	return st.Outcome, mine
}

// Nothing that happened in the room is refused: a vend of a medication the catalogue does not
// know, a fractional amount, other units, another patient than the order's, and a waste of a
// fractional or unknown amount are all answered AA, kept, and parked as override reviews with
// their cause; the ledger moves what it can hold as written (the stock that left for another
// patient), and nothing else.
func TestReportsThatHappenedAreParkedNotRefused(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	ctx := context.Background()
	in := &intake.Intake{Store: f.store}
	send := listen(t, in)

	const req = "medreq-01JQ8ZK3M4V7XQ2R9TBN6WFHDC"
	lines := []pyxis.Line{{MedicationID: f.med.ID, Quantity: 1}}
	_, err := f.store.Admit(ctx, pyxis.Admission{
		RequestID: req, CabinetID: f.cab.ID, Lines: lines,
		Submitted: pyxis.Transition{RequestID: req, Seq: 1, Status: "submitted", Action: "submitted", At: time.Now(),
			Actor: pyxis.Actor{ID: "nurse-ana", Role: "nurse"},
			Header: &pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse-ana"}, Patient: pyxis.Patient{MRN: "MRN-9"},
				CabinetID: f.cab.ID, Priority: "stat", Lines: lines}},
		Reserved: pyxis.Transition{RequestID: req, Seq: 2, From: "submitted", Status: "awaiting_approval", Action: "stock_reserved", At: time.Now(), Actor: pyxis.System},
		Refused:  pyxis.Transition{RequestID: req, Seq: 2, From: "submitted", Status: "failed", Action: "reserve_failed", At: time.Now(), Actor: pyxis.System},
	})
	require.NoError(t, err)

	for _, tc := range []struct {
		name, id string
		msg      []string
		causes   []string
		outcome  string
	}{
		{"unknown medication", "V-UNK", []string{msh("RDS^O13^RDS_O13", "V-UNK"), "ORC|RE|PHARM-1",
			"RXD|1|NOPE^Not in the catalogue|20261201080000+0000|1|ampoule"}, []string{db.ReviewUnknownMedication}, "review"},
		{"fractional amount", "V-HALF", []string{msh("RDS^O13^RDS_O13", "V-HALF"), "ORC|RE|PHARM-2",
			"RXD|1|ONDA4^Ondansetron|20261201080000+0000|0.5|ampoule"}, []string{db.ReviewFractionalAmount}, "review"},
		{"other units", "V-ML", []string{msh("RDS^O13^RDS_O13", "V-ML"), "ORC|RE|PHARM-3",
			"RXD|1|ONDA4^Ondansetron|20261201080000+0000|2|mL"}, []string{db.ReviewUnitMismatch}, "review"},
		{"another patient", "V-PAT", []string{msh("RDS^O13^RDS_O13", "V-PAT"), "PID|1||MRN-1^^^HOSP^MR", "ORC|RE|" + req,
			"RXD|1|ONDA4^Ondansetron|20261201080000+0000|1|ampoule"}, []string{db.ReviewPatientMismatch}, "review"},
		{"a fractional waste", "W-HALF", []string{msh("OMS^O05^OMS_O05", "W-HALF"), "ORC|SC|",
			"ZPM|W||PYX-T1|1|A|ONDA4^Ondansetron|A1|||0.5|NURSE7|NURSE9|||||||20261201080000+0000"}, []string{db.ReviewFractionalAmount}, "review"},
		{"a return of an unknown medication", "R-UNK", []string{msh("OMS^O05^OMS_O05", "R-UNK"), "ORC|SC|",
			"ZPM|R||PYX-T1|1|A|NOPE^Unknown|A1|||2|NURSE7||||||||20261201080000+0000"}, []string{db.ReviewUnknownMedication}, "review"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, cond := send(tc.msg...)
			assert.Equal(t, []string{"AA", ""}, []string{ack, cond})
			outcome, reviews := reviewsOf(t, f, tc.id)
			assert.Equal(t, tc.outcome, outcome)
			var causes []string
			for _, o := range reviews {
				causes = append(causes, o.Cause)
				assert.Equal(t, db.OverrideOpen, o.Status)
			}
			assert.Equal(t, tc.causes, causes)
		})
	}

	all, err := f.store.ListOverrideReviews(ctx, db.OverrideFilter{})
	require.NoError(t, err)
	byID := map[string]db.OverrideReview{}
	for _, o := range all {
		byID[o.MessageControlID] = o
	}
	assert.Equal(t, []any{int64(0), "NOPE", ""}, []any{byID["V-UNK"].MedicationID, byID["V-UNK"].MedicationCode, byID["V-UNK"].MedicationName})
	assert.Equal(t, []any{int32(0), "0.5", "ampoule"}, []any{byID["V-HALF"].Quantity, byID["V-HALF"].ReportedAmount, byID["V-HALF"].ReportedUnits})
	assert.Equal(t, "W", byID["W-HALF"].Transaction)
	assert.Contains(t, byID["V-ML"].Detail, `ordered in "ampoule"`)
	assert.Contains(t, byID["V-PAT"].Detail, `"MRN-1"`)
	assert.Contains(t, byID["V-PAT"].Detail, `"MRN-9"`)
	assert.Equal(t, req, byID["V-PAT"].OrderRef)

	// Only the dispense for another patient moved stock: it left the pocket (one unit, beyond
	// the request's reservation); the rest waits for the pharmacist as the cabinet wrote it.
	assert.EqualValues(t, 9, onHand(t, f))
	ms, err := f.store.ListMovements(ctx, f.cab.ID, f.med.ID)
	require.NoError(t, err)
	var moved []string
	for _, m := range ms {
		if m.CabinetMessageID != "" || m.Kind == db.MovementDispensed {
			moved = append(moved, m.Kind)
		}
	}
	assert.Equal(t, []string{db.MovementDispensed}, moved)
	parked, err := f.store.ListAuditByAction(ctx, "report_parked")
	require.NoError(t, err)
	assert.Len(t, parked, 5, "each parked line is audited")
}

// A vend whose second line is a medication the catalogue does not know: the first line is
// applied as any vend (here, of another system's order: an unmatched dispense), the second is
// parked; a resend of the report changes nothing.
func TestVendWithOneUnknownLine(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	in := &intake.Intake{Store: f.store}
	send := listen(t, in)
	msg := []string{msh("RDS^O13^RDS_O13", "V-MIX"), "ORC|RE|PHARM-9",
		"RXD|1|ONDA4^Ondansetron|20261201080000+0000|2|ampoule", "ORC|RE|PHARM-9", "RXD|2|NOPE^Unknown|20261201080000+0000|1|ampoule"}
	ack, _ := send(msg...)
	require.Equal(t, "AA", ack)
	outcome, reviews := reviewsOf(t, f, "V-MIX")
	assert.Equal(t, "unmatched", outcome)
	var causes []string
	for _, o := range reviews {
		causes = append(causes, o.Cause)
	}
	assert.ElementsMatch(t, []string{db.UnmatchedUnknownOrder, db.ReviewUnknownMedication}, causes)
	assert.EqualValues(t, 8, onHand(t, f))

	ack, _ = send(msg...)
	require.Equal(t, "AA", ack, "a resend")
	require.NoError(t, in.HandleEvent(from("127.0.0.1:5000"), returned("R-AFTER", 1)))
	require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.EqualValues(ct, 9, onHand(t, f)) }, 10*time.Second, 20*time.Millisecond)
	_, reviews = reviewsOf(t, f, "V-MIX")
	assert.Len(t, reviews, 2, "applied once")
}

// A vend of two orders (each ORDER group names its own, the report as a whole none) applies
// each order's lines to it: here two other systems' orders, each recorded with its own order
// number; a resend changes nothing.
func TestVendOfTwoOrdersAppliesEachLineToItsOrder(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	in := &intake.Intake{Store: f.store}
	send := listen(t, in)
	msg := []string{msh("RDS^O13^RDS_O13", "V-TWO"),
		"ORC|RE|L-1||PHARM-1", "RXD|1|ONDA4^Ondansetron|20261201080000+0000|1|ampoule",
		"ORC|RE|L-2||PHARM-2", "RXD|2|ONDA4^Ondansetron|20261201080000+0000|2|ampoule"}
	ack, _ := send(msg...)
	require.Equal(t, "AA", ack)
	_, all := reviewsOf(t, f, "V-TWO")
	refs := map[string]int32{}
	for _, o := range all {
		refs[o.OrderRef] += o.Quantity
	}
	assert.Equal(t, map[string]int32{"PHARM-1": 1, "PHARM-2": 2}, refs, "each line under its own order")
	assert.EqualValues(t, 7, onHand(t, f))

	ack, _ = send(msg...)
	require.Equal(t, "AA", ack, "a resend")
	require.NoError(t, in.HandleEvent(from("127.0.0.1:5000"), returned("R-AFTER", 1)))
	require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.EqualValues(ct, 8, onHand(t, f)) }, 10*time.Second, 20*time.Millisecond)
	_, all = reviewsOf(t, f, "V-TWO")
	assert.Len(t, all, 2, "applied once, both under the cabinet's MSH-10")
}
