package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

var vendingCabinet = pyxis.Actor{ID: "cabinet:CAB-1", Role: "cabinet"}

// vendStep records the next transition of req-vend with a withdrawal report of lines.
func vendStep(f fixture, seq int32, stock pyxis.StockChange, lines ...pyxis.Line) pyxis.Step {
	at := t0.Add(time.Duration(seq) * time.Minute)
	st := pyxis.Step{RequestID: "req-vend", Stock: stock, Transitions: []pyxis.Transition{{
		RequestID: "req-vend", Seq: seq, From: "ready_at_cabinet", Status: "ready_at_cabinet", Action: "partially_withdrawn",
		At: at, Actor: vendingCabinet, Vended: lines,
	}}}
	if len(lines) > 0 {
		st.Vends = []pyxis.Vend{{CabinetID: f.cabinet.ID, Lines: lines, ReportID: "MSG-" + time.Duration(seq).String(), Actor: vendingCabinet, Source: db.SourceCabinet, At: at}}
	}
	return st
}

// admitted reserves 4 of A and 1 of B for req-vend.
func admitted(t *testing.T, s *db.Store, f fixture) {
	t.Helper()
	res, err := s.Admit(testCtx(t), admission(f, "req-vend", 4))
	require.NoError(t, err)
	require.Nil(t, res.Short)
}

// found is a discrepancy as the tests compare it: kind, expected, actual.
type found struct {
	kind             string
	expected, actual int32
}

func discrepancyKinds(t *testing.T, s *db.Store, f fixture) []found {
	t.Helper()
	ds, err := s.ListDiscrepancies(testCtx(t), db.StockFilter{CabinetID: f.cabinet.ID})
	require.NoError(t, err)
	out := []found{}
	for _, d := range ds {
		var exp, act int32
		if d.Expected != nil {
			exp = *d.Expected
		}
		if d.Actual != nil {
			act = *d.Actual
		}
		out = append(out, found{d.Kind, exp, act})
	}
	return out
}

func TestVendAsOrderedConsumesEachLine(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	admitted(t, s, f)

	st := vendStep(f, 3, pyxis.StockRelease, pyxis.Line{MedicationID: f.medA.ID, Quantity: 4}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1})
	res, err := s.RecordStep(ctx, st)
	require.NoError(t, err)
	assert.ElementsMatch(t, []pyxis.ConsumedLine{
		{MedicationID: f.medA.ID, Quantity: 4, OnHand: 6, ParLevel: 5},
		{MedicationID: f.medB.ID, Quantity: 1, OnHand: 9, ParLevel: 5},
	}, res.Consumed)
	assert.Empty(t, res.Released)
	assert.Empty(t, res.Discrepancies)
	// A retry of the committed step takes nothing twice.
	res, err = s.RecordStep(ctx, st)
	require.NoError(t, err)
	assert.Empty(t, res.Consumed)

	a := requireLedger(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{6, 0}, []int32{a.OnHand, a.Reserved})
	assert.Empty(t, discrepancyKinds(t, s, f))
	d, err := s.GetRequestDetail(ctx, "req-vend")
	require.NoError(t, err)
	assert.Equal(t, []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 4}, {MedicationID: f.medB.ID, Quantity: 1}}, d.Transitions[2].Vended)
}

func TestVendBeyondTheOrderOpensDiscrepancies(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	_, err := s.Admit(ctx, func() pyxis.Admission {
		a := admission(f, "req-vend", 2)
		a.Lines = a.Lines[:1] // 2 of A only
		a.Submitted.Header.Lines = a.Lines
		return a
	}())
	require.NoError(t, err)

	// Three of A where two were ordered, and one of B, which was not ordered at all.
	res, err := s.RecordStep(ctx, vendStep(f, 3, pyxis.StockRelease, pyxis.Line{MedicationID: f.medA.ID, Quantity: 3}, pyxis.Line{MedicationID: f.medB.ID, Quantity: 1}))
	require.NoError(t, err)
	assert.Len(t, res.Discrepancies, 2)
	assert.ElementsMatch(t, []found{{db.DiscrepancyOverVend, 2, 3}, {db.DiscrepancyWrongMedication, 0, 1}}, discrepancyKinds(t, s, f))
	a := requireLedger(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{7, 0}, []int32{a.OnHand, a.Reserved}, "what left the cabinet left the ledger")
	b := requireLedger(t, s, f.cabinet.ID, f.medB.ID)
	assert.Equal(t, []int32{9, 0}, []int32{b.OnHand, b.Reserved})
	verifyOK(t, s)
}

func TestShortVendReleasesTheRestWithADiscrepancy(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	admitted(t, s, f)

	// One of four A; B not yet. Then the window passes: the rest is released.
	_, err := s.RecordStep(ctx, vendStep(f, 3, pyxis.StockNone, pyxis.Line{MedicationID: f.medA.ID, Quantity: 1}))
	require.NoError(t, err)
	a := requireInvariant(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{9, 3}, []int32{a.OnHand, a.Reserved}, "one consumed, three still held")
	res, err := s.RecordStep(ctx, vendStep(f, 4, pyxis.StockRelease))
	require.NoError(t, err)
	assert.ElementsMatch(t, []pyxis.Line{{MedicationID: f.medA.ID, Quantity: 3}, {MedicationID: f.medB.ID, Quantity: 1}}, res.Released)
	assert.ElementsMatch(t, []found{{db.DiscrepancyShortVend, 4, 1}, {db.DiscrepancyShortVend, 1, 0}}, discrepancyKinds(t, s, f),
		"A ordered 4 got 1, B ordered 1 got 0")
	a = requireLedger(t, s, f.cabinet.ID, f.medA.ID)
	assert.Equal(t, []int32{9, 0}, []int32{a.OnHand, a.Reserved})
}

func TestExpiryWithoutVendsOpensNoDiscrepancy(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	admitted(t, s, f)
	_, err := s.RecordStep(ctx, vendStep(f, 3, pyxis.StockRelease))
	require.NoError(t, err)
	assert.Empty(t, discrepancyKinds(t, s, f))
	assert.Zero(t, requireInvariant(t, s, f.cabinet.ID, f.medA.ID).Reserved)
}

func TestUnmatchedDispenseAndItsReview(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 3)
	u := db.UnmatchedDispense{
		CabinetID: f.cabinet.ID, Lines: []pyxis.Line{{MedicationID: f.medB.ID, Quantity: 5}},
		OrderRef: "PHARM-778", Cause: db.UnmatchedUnknownOrder, MessageControlID: "V-1",
		Actor: pyxis.Actor{ID: "nurse-ana", Role: "cabinet"}, Source: db.SourceCabinet, At: t0,
	}
	res, err := s.RecordUnmatchedDispense(ctx, u)
	require.NoError(t, err)
	require.Len(t, res.Reviews, 1)
	again, err := s.RecordUnmatchedDispense(ctx, u)
	require.NoError(t, err)
	assert.True(t, again.Duplicate, "the same report is recorded once")

	b := requireLedger(t, s, f.cabinet.ID, f.medB.ID)
	assert.Zero(t, b.OnHand, "the ledger held 3 of the 5 reported")
	open, err := s.ListOverrideReviews(ctx, db.OverrideFilter{Status: db.OverrideOpen})
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, int32(5), open[0].Quantity)
	assert.Equal(t, int32(2), open[0].NotInLedger)
	assert.Equal(t, "PHARM-778", open[0].OrderRef)
	n, err := s.CountOpenOverrideReviews(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)

	_, err = s.ReviewOverride(ctx, open[0].ID, db.OverrideJustified, "", pyxis.Actor{ID: "nurse-ana", Role: "pharmacist"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid, "who dispensed does not review it")
	_, err = s.ReviewOverride(ctx, open[0].ID, "fine", "", pyxis.Actor{ID: "pharm-bo", Role: "pharmacist"})
	assert.ErrorIs(t, err, pyxis.ErrInvalid)
	r, err := s.ReviewOverride(ctx, open[0].ID, db.OverrideJustified, "code blue, bed 4", pyxis.Actor{ID: "pharm-bo", Role: "pharmacist"})
	require.NoError(t, err)
	assert.Equal(t, db.OverrideReviewed, r.Status)
	_, err = s.ReviewOverride(ctx, open[0].ID, db.OverrideNotJustified, "", pyxis.Actor{ID: "pharm-cy", Role: "pharmacist"})
	assert.ErrorIs(t, err, pyxis.ErrNotOpen)
	verifyOK(t, s)
}

func TestInboxKeepsReportsOnceInOrder(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 3)
	hash := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }
	report := func(id string, h byte) db.InboxReport {
		return db.InboxReport{CabinetID: f.cabinet.ID, MessageControlID: id, ContentHash: hash(h), Kind: "V", Report: []byte(`{}`)}
	}
	for _, tc := range []struct {
		r    db.InboxReport
		want db.AcceptOutcome
	}{
		{report("M1", 1), db.Accepted},
		{report("M2", 2), db.Accepted},
		{report("M1", 1), db.Resent},
		{report("M1", 9), db.Conflict},
	} {
		got, err := s.AcceptReport(ctx, tc.r)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.r.MessageControlID)
	}
	pending, err := s.PendingReports(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 2)
	assert.Equal(t, []string{"M1", "M2"}, []string{pending[0].MessageControlID, pending[1].MessageControlID})

	require.NoError(t, s.DeferReport(ctx, pending[0].ID, "database busy", t0))
	require.NoError(t, s.SettleReport(ctx, pending[1].ID, false, "applied", ""))
	pending, err = s.PendingReports(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, int32(1), pending[0].Attempts)
	n, _, err := s.InboxBacklog(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}
