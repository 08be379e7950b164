package mllp

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The peer check runs once the connection is accepted, before a byte is read: a refused peer's
// frame never reaches the handler and gets no answer. Its refusals are reported once a
// minute, counted, and past the limit its connections are cut before the check runs.
func TestServerChecksThePeerBeforeReading(t *testing.T) {
	var handled, checked atomic.Int32
	var mu sync.Mutex
	var reports []int
	h := func(ctx context.Context, msg []byte) []byte { handled.Add(1); return echo(ctx, msg) }
	_, addr := startServer(t, h, ServerOptions{
		AcceptPeer: func(_ context.Context, p Peer) error {
			checked.Add(1)
			if p.Addr.Addr().Unmap() == netip.MustParseAddr("127.0.0.2") {
				return nil
			}
			return errors.New("no cabinet reports from " + p.Addr.Addr().String())
		},
		OnRefused: func(_ netip.Addr, _ string, count int) {
			mu.Lock()
			reports = append(reports, count)
			mu.Unlock()
		},
		MaxRefusalsPerMinute: 3,
	})
	for range 5 {
		assert.False(t, served(t, dialFrom(t, "127.0.0.1", addr)), "a refused peer is answered")
	}
	assert.Zero(t, handled.Load(), "a refused peer's frame reached the handler")
	assert.EqualValues(t, 3, checked.Load(), "past the limit, connections are cut before the check")
	mu.Lock()
	assert.Equal(t, []int{1}, reports, "one report for the minute")
	mu.Unlock()
	assert.True(t, served(t, dialFrom(t, "127.0.0.2", addr)), "an allowed peer is served")
}

// Connections that send nothing hold their slots for FirstFrameTimeout at most: a genuine
// cabinet gets in within it even when silent connections took every slot.
func TestSilentConnectionsCannotKeepACabinetOut(t *testing.T) {
	const first = 300 * time.Millisecond
	_, addr := startServer(t, echo, ServerOptions{MaxConns: 4, MaxConnsPerPeer: 4, FirstFrameTimeout: first})
	for range 4 {
		dialFrom(t, "127.0.0.1", addr)
	}
	start := time.Now()
	require.Eventually(t, func() bool { return served(t, dialFrom(t, "127.0.0.1", addr)) },
		5*time.Second, 20*time.Millisecond, "the cabinet never got in")
	assert.Less(t, time.Since(start), first+time.Second)
}

// A connection that began its first frame but does not finish it within FirstFrameTimeout is
// closed too, however long FrameTimeout is.
func TestFirstFrameMustCompleteInTime(t *testing.T) {
	_, addr := startServer(t, echo, ServerOptions{FirstFrameTimeout: 200 * time.Millisecond, FrameTimeout: time.Minute})
	nc, r := dialRaw(t, addr)
	start := time.Now()
	_, err := nc.Write([]byte("\x0bMSH|slow"))
	require.NoError(t, err)
	_, err = r.ReadFrame()
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestRefusalsAggregatePerMinute(t *testing.T) {
	var r refusals
	r.byAddr = map[netip.Addr]*peerRefusals{}
	a := netip.MustParseAddr("10.0.0.1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	report, n := r.add(a, "x", t0)
	assert.True(t, report)
	assert.Equal(t, 1, n)
	for i := range 9 {
		report, _ = r.add(a, "x", t0.Add(time.Duration(i+1)*time.Second))
		assert.False(t, report)
	}
	assert.True(t, r.overLimit(a, 10, t0.Add(30*time.Second)))
	assert.False(t, r.overLimit(a, 10, t0.Add(61*time.Second)), "a new minute")
	report, n = r.add(a, "x", t0.Add(61*time.Second))
	assert.True(t, report)
	assert.Equal(t, 11, n, "the nine unreported, the one cut off, and this one")
}
