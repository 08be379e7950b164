package cabsim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet/hl7"
)

// A simulator with a state file carries on after a restart, whether it was closed or killed
// (its state file copied as it was right after an AA, with no Close): a resent order is a
// duplicate, withdrawals that fell due while it was down happen at once and in the order
// they fell due, the others at their time, a cancelled order stays cancelled, and every
// withdrawal is reported exactly once. The simulators run on clocks the test moves.
func TestStateCarriesOnAfterRestart(t *testing.T) {
	const after = 2 * time.Second
	dir := t.TempDir()
	state, killed := filepath.Join(dir, "sim.json"), filepath.Join(dir, "killed.json")
	before := listenReports(t, "", always(hl7.AckAccept))
	clk := newFakeClock(time.Now().UTC().Truncate(time.Second))
	s1 := startSimAt(t, Config{ReportTo: before.addr, StateFile: state, WithdrawAfter: after}, clk)

	accept(t, s1, "r1", hl7.OrderNew) // due at 2s: overdue at the restart
	accept(t, s1, "r2", hl7.OrderNew)
	accept(t, s1, "r2", hl7.OrderCancel) // cancelled: never withdrawn
	clk.Advance(200 * time.Millisecond)
	accept(t, s1, "r4", hl7.OrderNew) // due at 2.2s: overdue too, after r1
	clk.Advance(time.Second)
	accept(t, s1, "r3", hl7.OrderNew) // due at 3.2s: after the restart
	// A SIGKILL now would leave the file as it is: r3 was acknowledged, so it is in it.
	copyFile(t, state, killed)
	assert.ElementsMatch(t, []string{"r1", "r2", "r3", "r4"}, heldIDs(t, killed))
	require.NoError(t, s1.Close())
	assert.Empty(t, before.all(), "nothing was due before the stop")

	// Both restart at 2.5s, each on a clock of its own, so that r3 is still ahead for both.
	down := 1300 * time.Millisecond
	type restarted struct {
		name string
		l    *reportListener
		s    *Sim
		clk  *fakeClock
	}
	var runs []restarted
	for _, v := range []struct{ name, file string }{{"closed", state}, {"killed", killed}} {
		l := listenReports(t, "", always(hl7.AckAccept))
		c := newFakeClock(clk.Now().Add(down))
		runs = append(runs, restarted{v.name, l, startSimAt(t, Config{ReportTo: l.addr, StateFile: v.file, WithdrawAfter: after}, c), c})
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			l, s := r.l, r.s
			for _, oc := range []struct {
				id string
				oc hl7.OrderControl
			}{{"r1", hl7.OrderNew}, {"r3", hl7.OrderNew}, {"r2", hl7.OrderCancel}} {
				ack := accept(t, s, oc.id, oc.oc)
				assert.Contains(t, ack.Text, "duplicate", "%s %s resent after the restart", oc.oc, oc.id)
			}
			// The overdue ones at once, in due order; r3 is not due yet: nothing else was
			// queued, and r3 is still held.
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.Equal(ct, []string{vendID("r1"), vendID("r4")}, l.accepted())
				assert.Zero(ct, s.Stats().Outbox)
			}, 5*time.Second, 10*time.Millisecond)
			assert.True(t, pending(s, "r3"), "r3 withdrawn at its time, not before")

			r.clk.Advance(time.Second) // 3.5s: r3 falls due
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.Equal(ct, []string{vendID("r1"), vendID("r4"), vendID("r3")}, l.accepted())
			}, 5*time.Second, 10*time.Millisecond)
			// A withdrawal now is reported after whatever was queued before it: once its AA is
			// in, a report sent twice would show.
			accept(t, s, "r5", hl7.OrderNew)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := s.Withdraw(ctx, "r5", nil)
			require.NoError(t, err)
			assert.Equal(t, []string{vendID("r1"), vendID("r4"), vendID("r3"), vendID("r5")}, l.accepted(), "each once")
			assert.Len(t, l.all(), 4, "nothing sent twice")
			assert.Equal(t, Stats{OrdersAccepted: 5, OrdersCancelled: 1, DuplicatesRecognised: 3, ReportsSent: 4}, s.Stats())
			_, err = s.Withdraw(context.Background(), "r2", nil)
			assert.ErrorIs(t, err, ErrNotPending, "a cancelled order stays cancelled")
		})
	}
}

// pending reports whether the simulator holds the order, neither withdrawn nor cancelled.
func pending(s *Sim, requestID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[requestID]
	return o != nil && !o.done()
}

// Every AA to an order goes out after the order is on disk, and the state file is replaced
// whole: a reader never finds it half written, however busy the simulator is.
func TestStateFileIsWrittenBeforeTheAAAndWhole(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	s := startSim(t, Config{StateFile: state})
	var stop atomic.Bool
	var reads atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			st, err := readState(state)
			if !assert.NoError(t, err, "a reader found the state file half written") {
				return
			}
			if st != nil {
				reads.Add(1)
			}
		}
	}()
	var done sync.WaitGroup
	for w := range 4 {
		done.Add(1)
		go func() {
			defer done.Done()
			for i := range 10 {
				id := fmt.Sprintf("w%d-r%d", w, i)
				ack, err := sendOrder(t, s, id, hl7.OrderNew)
				if !assert.NoError(t, err) || !assert.Equal(t, hl7.AckAccept, ack.Code) {
					return
				}
				raw, err := os.ReadFile(state)
				if assert.NoError(t, err) {
					var st savedState
					assert.NoError(t, json.Unmarshal(raw, &st))
					held := false
					for _, o := range st.Orders {
						held = held || o.RequestID == id
					}
					assert.True(t, held, "%s acknowledged AA but not on disk", id)
				}
			}
		}()
	}
	done.Wait()
	stop.Store(true)
	wg.Wait()
	assert.Positive(t, reads.Load())
	assert.Equal(t, 40, s.Stats().OrdersAccepted)
	require.NoError(t, s.Close())
	left, err := filepath.Glob(state + ".tmp-*")
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary file left behind")
}

// A state file that does not read whole is refused at New with a clear error, rather than
// starting an empty cabinet that forgot its orders; a missing one is a new cabinet, and a
// temporary file left by a crash mid-write is ignored and removed.
func TestDamagedStateFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	s := startSim(t, Config{StateFile: good})
	accept(t, s, "r1", hl7.OrderNew)
	require.NoError(t, s.Close())
	whole, err := os.ReadFile(good)
	require.NoError(t, err)

	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"truncated", string(whole[:len(whole)/2])},
		{"cut before the end", string(whole[:len(whole)-1])},
		{"garbage", "\x00\x00\x00\x00"},
		{"another format", `{"format":"something-else/9"}`},
		{"two states", string(whole) + string(whole)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sim.json")
			require.NoError(t, os.WriteFile(path, []byte(tt.data), 0o600))
			_, err := New(Config{Listen: "127.0.0.1:0", StateFile: path})
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "move it away")
		})
	}

	t.Run("missing is a new cabinet", func(t *testing.T) {
		s := startSim(t, Config{StateFile: filepath.Join(t.TempDir(), "new.json")})
		assert.Equal(t, Stats{}, s.Stats())
	})
	t.Run("a crash mid-write leaves the old state", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sim.json")
		require.NoError(t, os.WriteFile(path, whole, 0o600))
		stale := path + ".tmp-123"
		require.NoError(t, os.WriteFile(stale, whole[:10], 0o600))
		s := startSim(t, Config{StateFile: path})
		_, held := s.Order("r1")
		assert.True(t, held)
		assert.NoFileExists(t, stale)
	})
}

// The stock's quantities and the item master are kept: a restart does not refill the
// pockets or forget the items.
func TestStateKeepsStockAndItems(t *testing.T) {
	dir := t.TempDir()
	stockFile := filepath.Join(dir, "stock.json")
	require.NoError(t, os.WriteFile(stockFile, []byte(`{"cabinet":"PYX-ICU-01","pockets":[
		{"medication_code":"MORF10","drawer":"1","pocket":"A","quantity":2,"par_level":5}]}`), 0o600))
	state := filepath.Join(dir, "sim.json")
	l := listenReports(t, "", always(hl7.AckAccept))
	cfg := Config{ReportTo: l.addr, StockFile: stockFile, StateFile: state}
	s1 := startSim(t, cfg)
	accept(t, s1, "r1", hl7.OrderNew)
	_, err := s1.Withdraw(context.Background(), "r1", nil) // the pocket holds 1 now
	require.NoError(t, err)
	accept(t, s1, "r2", hl7.OrderNew) // sets the last one aside
	m, err := hl7.BuildMFN("PYX-ICU-01", cabItem, time.Now(), hl7.Envelope{})
	require.NoError(t, err)
	require.Equal(t, hl7.AckAccept, sendRaw(t, s1, m).Code)
	require.NoError(t, s1.Close())

	s2 := startSim(t, cfg)
	ack, err := sendOrder(t, s2, "r3", hl7.OrderNew)
	require.NoError(t, err)
	assert.Equal(t, hl7.AckError, ack.Code, "the pocket's last unit is set aside for r2: %s", ack.Text)
	assert.Contains(t, ack.Text, "insufficient stock")
	require.Len(t, s2.Items(), 1)
	assert.Equal(t, cabItem.Name, s2.Items()[0].Name)
}

// History is bounded, so that the state file stays small: orders done and control ids
// acknowledged are forgotten after the retention, and beyond the most recent maxDone; held
// orders are never forgotten.
func TestStateForgetsOldHistory(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	l := listenReports(t, "", always(hl7.AckAccept))
	s := startSim(t, Config{ReportTo: l.addr, StateFile: state})
	for _, id := range []string{"old", "done1", "done2", "held"} {
		accept(t, s, id, hl7.OrderNew)
	}
	for _, id := range []string{"old", "done1", "done2"} {
		_, err := s.Withdraw(context.Background(), id, nil)
		require.NoError(t, err)
	}
	s.mu.Lock()
	s.orders["old"].doneAt = time.Now().Add(-2 * time.Hour)
	s.orders["held"].acceptedAt = time.Now().Add(-2 * time.Hour)
	s.retention, s.maxDone = time.Hour, 1
	s.pruneLocked(time.Now())
	s.changedLocked()
	s.mu.Unlock()
	require.NoError(t, s.Close())
	assert.ElementsMatch(t, []string{"done2", "held"}, heldIDs(t, state), "the newest order done, and the held one")
}
