package intake_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/intake"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// These tests need Postgres only: pocket events (returns, counts) never reach a workflow, so
// the inbox's store-and-forward is tested here without Temporal. Vends and loads, which do,
// are tested end to end in e2e.

type fixture struct {
	store *db.Store
	cab   pyxis.Cabinet
	med   pyxis.Medication
}

func setup(t *testing.T, sources ...string) fixture {
	t.Helper()
	ctx := context.Background()
	s := db.NewStore(dbtest.NewPool(t))
	var prefixes []netip.Prefix
	for _, p := range sources {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	cab, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "PYX-T1", Name: "Test", Unit: "ICU", Driver: "hl7", Address: "127.0.0.1:1", ReportSources: prefixes})
	require.NoError(t, err)
	med, err := s.CreateMedication(ctx, db.NewMedication{Code: "ONDA4", Name: "Ondansetron", Unit: "ampoule"})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, cab.ID, med.ID, 10, 10, pyxis.Actor{ID: "tech", Role: "technician"})
	require.NoError(t, err)
	return fixture{store: s, cab: cab, med: med}
}

func from(addr string) context.Context {
	return mllp.WithPeer(context.Background(), mllp.Peer{Addr: netip.MustParseAddrPort(addr)})
}

func returned(id string, n int32) cabinet.Event {
	return cabinet.Event{MessageControlID: id, Kind: cabinet.EventReturn, CabinetCode: "PYX-T1", MedicationCode: "ONDA4",
		Amount: cabinet.CountOf(n), At: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
}

func onHand(t *testing.T, f fixture) int32 {
	t.Helper()
	rows, err := f.store.ListStock(context.Background(), f.cab.ID)
	require.NoError(t, err)
	return rows[0].OnHand
}

// runApplier runs an applier until the test ends, and returns its stop.
func runApplier(t *testing.T, in *intake.Intake) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = in.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// A report acknowledged (kept in the inbox) by a process that dies before applying it is
// applied by the next applier, once; a resend after that is acknowledged and changes nothing.
func TestAcknowledgedReportSurvivesACrash(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	crashed := &intake.Intake{Store: f.store}
	require.NoError(t, crashed.HandleEvent(from("127.0.0.1:5000"), returned("R-1", 2)), "AA")
	assert.EqualValues(t, 10, onHand(t, f), "acknowledged, not yet applied")

	next := &intake.Intake{Store: f.store}
	runApplier(t, next)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.EqualValues(ct, 12, onHand(t, f))
	}, 10*time.Second, 20*time.Millisecond)

	require.NoError(t, next.HandleEvent(from("127.0.0.1:5000"), returned("R-1", 2)), "a resend is acknowledged")
	// The cabinet's next report is applied after anything of it acknowledged before: once
	// it is in, a second application of R-1 would show.
	require.NoError(t, next.HandleEvent(from("127.0.0.1:5000"), returned("R-2", 1)))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := f.store.InboxReportState(context.Background(), f.cab.ID, "R-2")
		if assert.NoError(ct, err) {
			assert.Equal(ct, "applied", st.State)
		}
	}, 10*time.Second, 20*time.Millisecond)
	assert.EqualValues(t, 13, onHand(t, f), "R-1 applied once, then R-2")
	st, err := f.store.InboxReportState(context.Background(), f.cab.ID, "R-1")
	require.NoError(t, err)
	assert.Equal(t, "applied", st.State)
}

// Reports of one cabinet are applied in the order it sent them, even by several appliers.
func TestReportsAppliedInOrderByOneApplier(t *testing.T) {
	f := setup(t, "127.0.0.0/8")
	a := &intake.Intake{Store: f.store}
	b := &intake.Intake{Store: f.store}
	runApplier(t, a)
	runApplier(t, b)
	for i := range 20 {
		require.NoError(t, a.HandleEvent(from("127.0.0.2:6000"), returned("R-"+string(rune('A'+i)), 1)))
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.EqualValues(ct, 30, onHand(t, f))
	}, 15*time.Second, 50*time.Millisecond)
	ms, err := f.store.ListMovements(context.Background(), f.cab.ID, f.med.ID)
	require.NoError(t, err)
	var ids []string
	for _, m := range ms[1:] {
		ids = append(ids, m.CabinetMessageID)
	}
	want := []string{}
	for i := range 20 {
		want = append(want, "R-"+string(rune('A'+i)))
	}
	assert.Equal(t, want, ids)
}

func TestWhoMayReport(t *testing.T) {
	f := setup(t, "10.20.4.0/24")
	in := &intake.Intake{Store: f.store}
	ctx := context.Background()

	var re *cabinet.ReportError
	err := in.HandleEvent(from("10.20.5.9:4000"), returned("R-1", 1))
	require.ErrorAs(t, err, &re, "a peer outside the cabinet's report sources")
	assert.Equal(t, cabinet.AckReject, re.Ack)
	require.NoError(t, in.HandleEvent(from("10.20.4.17:4000"), returned("R-2", 1)))
	require.NoError(t, in.HandleEvent(from("[::ffff:10.20.4.18]:4000"), returned("R-3", 1)), "an IPv4-mapped address")

	// Over TLS the client certificate speaks for the cabinet, wherever it connects from.
	tls := func(cn string) context.Context {
		return mllp.WithPeer(ctx, mllp.Peer{Addr: netip.MustParseAddrPort("192.0.2.1:4000"), CommonName: cn})
	}
	require.NoError(t, in.HandleEvent(tls("PYX-T1"), returned("R-4", 1)))
	require.ErrorAs(t, in.HandleEvent(tls("PYX-OTHER"), returned("R-5", 1)), &re)
	assert.Equal(t, cabinet.AckReject, re.Ack)
	require.ErrorAs(t, in.HandleEvent(ctx, returned("R-6", 1)), &re, "no peer at all")

	entries, err := f.store.ListAuditByAction(ctx, "report_refused")
	require.NoError(t, err)
	assert.Len(t, entries, 3, "every refusing peer is audited")

	// The same peer again and again: refused each time, audited once a minute.
	for i := range 5 {
		require.ErrorAs(t, in.HandleEvent(from("10.20.5.9:4001"), returned(fmt.Sprintf("R-X%d", i), 1)), &re)
	}
	entries, err = f.store.ListAuditByAction(ctx, "report_refused")
	require.NoError(t, err)
	assert.Len(t, entries, 3, "one aggregated entry a minute per peer, not one per report")
	for _, id := range []string{"R-1", "R-5", "R-6"} {
		_, err := f.store.InboxReportState(ctx, f.cab.ID, id)
		assert.ErrorIs(t, err, pyxis.ErrNotFound, "a refused report changes nothing: %s", id)
	}
}

// The same message control id with other content is not a resend: AE, audited, not kept.
func TestReusedMessageIDIsAConflict(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	in := &intake.Intake{Store: f.store}
	require.NoError(t, in.HandleEvent(from("127.0.0.1:5000"), returned("R-1", 2)))
	var re *cabinet.ReportError
	require.ErrorAs(t, in.HandleEvent(from("127.0.0.1:5000"), returned("R-1", 3)), &re)
	assert.Equal(t, []string{cabinet.AckError, cabinet.ConditionDuplicateKey}, []string{re.Ack, re.Condition})
	entries, err := f.store.ListAuditByAction(context.Background(), "sequence_conflict")
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// What the sender must fix is refused before anything is kept: AE with its condition. (What
// happened but cannot be applied as written is kept and parked: parked_test.go.)
func TestContentErrorsAreRefused(t *testing.T) {
	f := setup(t, "127.0.0.1/32")
	in := &intake.Intake{Store: f.store}
	peer := from("127.0.0.1:5000")
	for name, tc := range map[string]struct {
		e         cabinet.Event
		condition string
	}{
		"unknown cabinet":     {cabinet.Event{MessageControlID: "X1", Kind: cabinet.EventReturn, CabinetCode: "NOPE", MedicationCode: "ONDA4", Amount: cabinet.CountOf(1)}, cabinet.ConditionUnknownKey},
		"no amount":           {cabinet.Event{MessageControlID: "X3", Kind: cabinet.EventReturn, CabinetCode: "PYX-T1", MedicationCode: "ONDA4"}, cabinet.ConditionRequiredField},
		"count without count": {cabinet.Event{MessageControlID: "X4", Kind: cabinet.EventCount, CabinetCode: "PYX-T1", MedicationCode: "ONDA4"}, cabinet.ConditionRequiredField},
		"vend without lines":  {cabinet.Event{MessageControlID: "X5", Kind: cabinet.EventVend, CabinetCode: "PYX-T1", RequestID: "PHARM-1"}, cabinet.ConditionRequiredField},
		"no message id":       {cabinet.Event{Kind: cabinet.EventReturn, CabinetCode: "PYX-T1", MedicationCode: "ONDA4", Amount: cabinet.CountOf(1)}, cabinet.ConditionRequiredField},
	} {
		var re *cabinet.ReportError
		require.ErrorAs(t, in.HandleEvent(peer, tc.e), &re, name)
		assert.Equal(t, []string{cabinet.AckError, tc.condition}, []string{re.Ack, re.Condition}, name)
	}
	n, _, err := f.store.InboxBacklog(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
}

// A cabinet's message control ids are remembered for the id retention: within it, an id used
// again for other content is AE 205; once the first report is older, the id is taken again (a
// cabinet whose counter restarted), applied as a new report; and the applier purges what is
// older than the retention.
func TestMessageIDsAreRememberedForTheRetention(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	f := setup(t, "127.0.0.1/32")
	f.store = db.NewStore(pool)
	cab, err := f.store.CreateCabinet(ctx, db.NewCabinet{Code: "PYX-T2", Name: "Test", Unit: "ICU", Driver: "hl7", Address: "127.0.0.1:2",
		ReportSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	require.NoError(t, err)
	med, err := f.store.CreateMedication(ctx, db.NewMedication{Code: "ONDA4", Name: "Ondansetron", Unit: "ampoule"})
	require.NoError(t, err)
	_, err = f.store.SetStock(ctx, cab.ID, med.ID, 10, 10, pyxis.Actor{ID: "tech", Role: "technician"})
	require.NoError(t, err)
	f.cab, f.med = cab, med
	ret := func(id string, n int32) cabinet.Event {
		e := returned(id, n)
		e.CabinetCode = "PYX-T2"
		return e
	}
	applied := func(id string) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := f.store.InboxReportState(ctx, cab.ID, id)
			if assert.NoError(ct, err) {
				assert.Equal(ct, "applied", st.State)
			}
		}, 10*time.Second, 20*time.Millisecond)
	}
	age := func(id string, by time.Duration) {
		t.Helper()
		_, err := pool.Exec(ctx, `UPDATE cabinet_inbox SET received_at = received_at - $3::interval WHERE cabinet_id = $1 AND message_control_id = $2`, cab.ID, id, by.String())
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE cabinet_messages SET received_at = received_at - $3::interval WHERE cabinet_id = $1 AND message_control_id = $2`, cab.ID, id, by.String())
		require.NoError(t, err)
	}

	in := &intake.Intake{Store: f.store, IDRetention: 24 * time.Hour}
	peer := from("127.0.0.1:5000")
	runApplier(t, in)
	require.NoError(t, in.HandleEvent(peer, ret("R-1", 2)))
	applied("R-1")
	var re *cabinet.ReportError
	require.ErrorAs(t, in.HandleEvent(peer, ret("R-1", 3)), &re, "within the retention")
	assert.Equal(t, cabinet.ConditionDuplicateKey, re.Condition)

	age("R-1", 25*time.Hour)
	require.NoError(t, in.HandleEvent(peer, ret("R-1", 3)), "the id aged out: taken again")
	applied("R-1")
	assert.EqualValues(t, 15, onHand(t, f), "both reports applied, each once")
	require.NoError(t, in.HandleEvent(peer, ret("R-1", 3)), "and its resend is a resend")

	require.NoError(t, in.HandleEvent(peer, ret("R-OLD", 1)))
	applied("R-OLD")
	age("R-OLD", 48*time.Hour)
	n, err := f.store.PurgeReports(ctx, 24*time.Hour)
	require.NoError(t, err)
	assert.EqualValues(t, 2, n, "the report and its claim")
	_, err = f.store.InboxReportState(ctx, cab.ID, "R-OLD")
	assert.ErrorIs(t, err, pyxis.ErrNotFound)
	_, err = f.store.InboxReportState(ctx, cab.ID, "R-1")
	assert.NoError(t, err, "younger than the retention: kept")
}
