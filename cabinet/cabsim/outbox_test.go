package cabsim

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet/hl7"
)

// withdrawQueued withdraws a held order, giving up waiting at once: the report is queued.
func withdrawQueued(t *testing.T, s *Sim, requestID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ids, err := s.Withdraw(ctx, requestID, nil)
	require.ErrorIs(t, err, ErrQueued)
	require.Equal(t, []string{vendID(requestID)}, ids)
}

// deliverAnother accepts and withdraws order requestID and waits for its report's AA. The
// reports of a cabinet go out one after the other, in the order they were queued: once this
// one is acknowledged, everything queued before it has been sent.
func deliverAnother(t *testing.T, s *Sim, requestID string) {
	t.Helper()
	accept(t, s, requestID, hl7.OrderNew)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Withdraw(ctx, requestID, nil)
	require.NoError(t, err)
}

// reportError is the last error of the report with the control id while it waits in the
// outbox ("" when it has none, or is not there).
func reportError(s *Sim, controlID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.outbox {
		for _, r := range q {
			if r.ControlID == controlID {
				return r.LastError
			}
		}
	}
	return ""
}

// requireDelivered waits until the listener has acknowledged these control ids AA.
func requireDelivered(t *testing.T, l *reportListener, ids ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, ids, l.accepted())
	}, 5*time.Second, 10*time.Millisecond)
}

// sameMessage asserts every attempt of a report sent the same bytes: the system recognises a
// resend by its control id and content.
func sameMessage(t *testing.T, got []received) {
	t.Helper()
	require.NotEmpty(t, got)
	for _, r := range got[1:] {
		assert.Equal(t, got[0].raw, r.raw, "a resend is the same message")
	}
}

// A report the system does not take (AR, or nobody listening) stays queued and is sent again
// until it is acknowledged AA, long after the old five attempts, and across a restart of the
// simulator, whether it was closed or killed.
func TestReportKeptUntilAcknowledged(t *testing.T) {
	t.Run("AR many times, then AA", func(t *testing.T) {
		l := listenReports(t, "", func(_, _ string, attempt int) hl7.AckCode {
			if attempt <= 12 {
				return hl7.AckReject
			}
			return hl7.AckAccept
		})
		s := startSim(t, Config{ReportTo: l.addr})
		accept(t, s, "r1", hl7.OrderNew)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ids, err := s.Withdraw(ctx, "r1", nil)
		require.NoError(t, err, "Withdraw waits for the AA")
		assert.Equal(t, []string{vendID("r1")}, ids)
		assert.Len(t, l.of(vendID("r1")), 13)
		sameMessage(t, l.of(vendID("r1")))
		assert.Equal(t, Stats{OrdersAccepted: 1, ReportsSent: 1}, s.Stats())
	})

	t.Run("nobody listening for a while", func(t *testing.T) {
		addr := freeAddr(t)
		s := startSim(t, Config{ReportTo: addr})
		accept(t, s, "r1", hl7.OrderNew)
		withdrawQueued(t, s, "r1")
		require.Eventually(t, func() bool { return reportError(s, vendID("r1")) != "" }, 5*time.Second, 10*time.Millisecond,
			"an attempt failed")
		assert.Equal(t, 1, s.Stats().Outbox)
		l := listenReports(t, addr, always(hl7.AckAccept))
		requireDelivered(t, l, vendID("r1"))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, Stats{OrdersAccepted: 1, ReportsSent: 1}, s.Stats())
		}, time.Second, 10*time.Millisecond)
	})

	for _, killed := range []bool{false, true} {
		name := "across a restart"
		if killed {
			name += " after a kill"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			state, file := filepath.Join(dir, "sim.json"), filepath.Join(dir, "sim.json")
			if killed {
				file = filepath.Join(dir, "killed.json")
			}
			l := listenReports(t, "", func(_, _ string, attempt int) hl7.AckCode {
				if killed && attempt == 1 {
					// A SIGKILL right after the first send: the report must already be
					// on disk, or the restarted simulator would not know it.
					copyFile(t, state, file)
				}
				return hl7.AckReject
			})
			s1 := startSim(t, Config{ReportTo: l.addr, StateFile: state})
			accept(t, s1, "r1", hl7.OrderNew)
			withdrawQueued(t, s1, "r1")
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.GreaterOrEqual(ct, len(l.all()), 3)
			}, 5*time.Second, 10*time.Millisecond)
			require.NoError(t, s1.Close())

			// The restarted simulator reports to a listener that accepts. It is another
			// listener: an attempt the first simulator wrote just before it closed may still
			// be read after this point, and the first listener refuses it as it did the rest
			// (answered AA, that attempt would be a delivery the closed simulator never
			// learnt of, and the resend below a second one).
			l2 := listenReports(t, "", always(hl7.AckAccept))
			s2 := startSim(t, Config{ReportTo: l2.addr, StateFile: file})
			requireDelivered(t, l2, vendID("r1"))
			// A later report of the cabinet goes after r1: once it is in, a resend of r1
			// would show.
			deliverAnother(t, s2, "r2")
			got := l2.of(vendID("r1"))
			assert.NotEmpty(t, got, "sent again after the restart")
			assert.Equal(t, []string{vendID("r1"), vendID("r2")}, l2.accepted(), "acknowledged once, and not sent after")
			assert.Empty(t, l.accepted(), "the first listener accepted nothing")
			sameMessage(t, append(l.of(vendID("r1")), got...))
			st := s2.Stats()
			assert.Equal(t, 0, st.Outbox)
			assert.Equal(t, 2, st.ReportsSent)
			_, err := s2.Withdraw(context.Background(), "r1", nil)
			assert.ErrorIs(t, err, ErrNotPending, "the withdrawal is not done a second time")
		})
	}
}

// An AE is final: the report leaves the outbox, is counted as failed with the system's
// reason, and is never sent again, not even after a restart.
func TestReportRefusedAEIsFinal(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	// AE for r1, AA for the reports the test sends after it to see the queue move on.
	l := listenReports(t, "", func(_, id string, _ int) hl7.AckCode {
		if id == vendID("r1") {
			return hl7.AckError
		}
		return hl7.AckAccept
	})
	s1 := startSim(t, Config{ReportTo: l.addr, StateFile: state})
	accept(t, s1, "r1", hl7.OrderNew)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s1.Withdraw(ctx, "r1", nil)
	require.ErrorIs(t, err, ErrReportRefused)
	// A later report goes after r1: once it is in, a resend of r1 would show.
	deliverAnother(t, s1, "r2")
	assert.Len(t, l.of(vendID("r1")), 1, "not sent again")
	st := s1.Stats()
	assert.Equal(t, 1, st.ReportsFailed)
	assert.Equal(t, 1, st.ReportsSent, "r2")
	assert.Equal(t, 0, st.Outbox)
	require.Len(t, st.Failures, 1)
	assert.Equal(t, vendID("r1"), st.Failures[0].ControlID)
	assert.Equal(t, kindVend, st.Failures[0].Kind)
	assert.Contains(t, st.Failures[0].Reason, "test listener says AE")
	require.NoError(t, s1.Close())

	l.setAnswer(always(hl7.AckAccept))
	s2 := startSim(t, Config{ReportTo: l.addr, StateFile: state})
	// The restarted outbox is sent before anything queued after the restart.
	deliverAnother(t, s2, "r3")
	assert.Len(t, l.of(vendID("r1")), 1, "not sent after the restart either")
	st = s2.Stats()
	assert.Equal(t, 1, st.ReportsFailed)
	assert.Equal(t, 0, st.Outbox)
	require.Len(t, st.Failures, 1, "the reason is kept")
}

// A cabinet's reports reach the system in the order they were queued, each only after the
// one before it was acknowledged, however many resends the first one needs; another
// cabinet's reports do not wait for them.
func TestReportsDeliveredInQueueOrder(t *testing.T) {
	var blocked = true
	first := ""
	l := listenReports(t, "", nil)
	l.setAnswer(func(cabinet, controlID string, attempt int) hl7.AckCode {
		switch {
		case cabinet == "PYX-ICU-01" && blocked:
			return hl7.AckReject
		case controlID == first && attempt <= 3:
			return hl7.AckReject
		}
		return hl7.AckAccept
	})
	s := startSim(t, Config{ReportTo: l.addr})
	accept(t, s, "r1", hl7.OrderNew)
	accept(t, s, "r2", hl7.OrderNew)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	one := int32(1)

	// Queue, for PYX-ICU-01: a load, r1's vend, an override, a count, r2's vend.
	load, err := s.SendEvent(short(), PocketEvent{Kind: "L", Cabinet: "PYX-ICU-01", MedicationCode: "MORF10", Amount: 5})
	require.ErrorIs(t, err, ErrQueued)
	withdrawQueued(t, s, "r1")
	override, err := s.Override(short(), "PYX-ICU-01", "", []VendLine{{MedicationCode: "DIPI1G", Amount: &one}})
	require.ErrorIs(t, err, ErrQueued)
	count, err := s.SendEvent(short(), PocketEvent{Kind: "C", Cabinet: "PYX-ICU-01", MedicationCode: "MORF10", Count: 4})
	require.ErrorIs(t, err, ErrQueued)
	withdrawQueued(t, s, "r2")
	queued := []string{load, vendID("r1"), override, count, vendID("r2")}
	assert.Equal(t, 5, s.Stats().Outbox)

	// Another cabinet is not held up by PYX-ICU-01's queue.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	other, err := s.SendEvent(ctx, PocketEvent{Kind: "L", Cabinet: "PYX-ER-02", MedicationCode: "MORF10", Amount: 1})
	require.NoError(t, err)
	for _, r := range l.all() {
		if r.cabinet == "PYX-ICU-01" {
			assert.Equal(t, load, r.controlID, "only the head of the queue is tried while it is refused")
		}
	}

	l.mu.Lock()
	blocked, first = false, load
	l.mu.Unlock()
	requireDelivered(t, l, append([]string{other}, queued...)...)
	var order []string
	for _, r := range l.all() {
		if r.cabinet == "PYX-ICU-01" && (len(order) == 0 || order[len(order)-1] != r.controlID) {
			order = append(order, r.controlID)
		}
	}
	assert.Equal(t, queued, order, "no report tried before the one before it was acknowledged")
	// The listener has answered the last AA; the sender takes the report out of its outbox
	// once it has read that answer, a moment later.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Zero(ct, s.Stats().Outbox)
	}, 5*time.Second, 10*time.Millisecond)
}
