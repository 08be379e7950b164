package intake_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
	"github.com/medreq/pyxis/intake"
)

// The raw HL7 of a settled report is purged once past its retention, by the applier; the
// parsed report and what it did stay.
func TestRawMessagesArePurgedAfterTheirRetention(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	cab, err := s.CreateCabinet(ctx, db.NewCabinet{Code: "PYX-T1", Name: "Test", Driver: "hl7", Address: "127.0.0.1:1",
		ReportSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	require.NoError(t, err)
	med, err := s.CreateMedication(ctx, db.NewMedication{Code: "ONDA4", Name: "Ondansetron"})
	require.NoError(t, err)
	_, err = s.SetStock(ctx, cab.ID, med.ID, 10, 10, pyxis.Actor{ID: "tech", Role: "technician"})
	require.NoError(t, err)
	raw := "MSH|^~\\&|PYXIS|PYX-T1|...|PID|||MRN-RAW-1"
	raw1 := func() (string, string) {
		var r, kind string
		require.NoError(t, pool.QueryRow(ctx, "SELECT raw, kind FROM cabinet_inbox WHERE message_control_id = 'R-1'").Scan(&r, &kind))
		return r, kind
	}

	in := &intake.Intake{Store: s}
	require.NoError(t, in.HandleEvent(cabinet.WithRaw(from("127.0.0.1:5000"), []byte(raw)), returned("R-1", 2)))
	n, err := in.PurgeRaw(ctx, time.Now().Add(60*24*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "a pending report keeps its message, however old")

	stop := runApplier(t, in)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := s.InboxReportState(ctx, cab.ID, "R-1")
		if assert.NoError(ct, err) {
			assert.Equal(ct, "applied", st.State)
		}
	}, 10*time.Second, 20*time.Millisecond)
	stop()
	n, err = in.PurgeRaw(ctx, time.Now())
	require.NoError(t, err)
	assert.Zero(t, n, "within the default 30 days")
	got, _ := raw1()
	assert.Equal(t, raw, got)
	n, err = in.PurgeRaw(ctx, time.Now().Add(intake.DefaultRawRetention+time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	got, kind := raw1()
	assert.Empty(t, got)
	assert.NotEmpty(t, kind, "the parsed report stays")
	assert.EqualValues(t, 12, onHand(t, fixture{store: s, cab: cab, med: med}))

	// The applier purges by itself, every RawPurgeInterval.
	require.NoError(t, in.HandleEvent(cabinet.WithRaw(from("127.0.0.1:5000"), []byte(raw)), returned("R-2", 1)))
	runApplier(t, &intake.Intake{Store: s, RawRetention: time.Nanosecond, RawPurgeInterval: 10 * time.Millisecond})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var r string
		if assert.NoError(ct, pool.QueryRow(ctx, "SELECT raw FROM cabinet_inbox WHERE message_control_id = 'R-2' AND state = 'applied'").Scan(&r)) {
			assert.Empty(ct, r)
		}
	}, 10*time.Second, 20*time.Millisecond)
}
