package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// A cabinet command's failed attempts add up on the request's view (attempts, the last
// error, since the first); the attempt the cabinet answers closes it, and says whether an
// earlier one went unanswered; a revoke after the order starts afresh; and the workflow's
// next transition closes whatever is still open. The gauges count what waits.
func TestCabinetDeliveryAttempts(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testCtx(t)
	f := seed(t, s, 10)
	_, err := s.Admit(ctx, admission(f, "req-outage", 1))
	require.NoError(t, err)

	view := func() *pyxis.CabinetDelivery {
		d, err := s.GetRequestDetail(ctx, "req-outage")
		require.NoError(t, err)
		if d.CabinetDelivery != nil {
			d.CabinetDelivery.Since = d.CabinetDelivery.Since.UTC()
		}
		return d.CabinetDelivery
	}
	attempt := func(command string, n int32, at time.Time, maybe bool, text string) {
		require.NoError(t, s.RecordDeliveryAttempt(ctx, pyxis.DeliveryAttempt{
			RequestID: "req-outage", Command: command, Attempt: n, LastError: text, At: at, MaybeDelivered: maybe}))
	}
	assert.Nil(t, view())

	attempt(pyxis.DeliveryAuthorize, 1, t0, true, "no acknowledgment")
	attempt(pyxis.DeliveryAuthorize, 2, t0.Add(2*time.Second), false, "the cabinet could not be reached")
	// A late report of an older attempt changes nothing.
	attempt(pyxis.DeliveryAuthorize, 1, t0.Add(3*time.Second), false, "stale")
	got := view()
	require.NotNil(t, got)
	assert.Equal(t, pyxis.CabinetDelivery{Command: pyxis.DeliveryAuthorize, Attempts: 2,
		LastError: "the cabinet could not be reached", Since: t0}, *got)
	g, err := s.OperationalGauges(ctx, t0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), g.CabinetDeliveriesWaiting)
	assert.Greater(t, g.OldestCabinetDeliverySeconds, 0.0)

	maybe, err := s.SettleDelivery(ctx, "req-outage", pyxis.DeliveryAuthorize)
	require.NoError(t, err)
	assert.True(t, maybe, "the first attempt went unanswered")
	assert.Nil(t, view())

	// The revoke is a command of its own: its count and since start afresh.
	attempt(pyxis.DeliveryRevoke, 1, t0.Add(time.Minute), false, "the cabinet answered AR: not now")
	got = view()
	require.NotNil(t, got)
	assert.Equal(t, pyxis.CabinetDelivery{Command: pyxis.DeliveryRevoke, Attempts: 1,
		LastError: "the cabinet answered AR: not now", Since: t0.Add(time.Minute)}, *got)

	// The workflow gave up on it and recorded so: nothing waits any more.
	_, err = s.RecordStep(ctx, pyxis.Step{RequestID: "req-outage", Transitions: []pyxis.Transition{{
		RequestID: "req-outage", Seq: 3, From: "awaiting_approval", Status: "cancelled", Action: "cancelled", At: t0.Add(2 * time.Minute),
		Actor: pyxis.Actor{ID: "nurse-ana", Role: "nurse"}}}})
	require.NoError(t, err)
	assert.Nil(t, view())
	g, err = s.OperationalGauges(ctx, t0)
	require.NoError(t, err)
	assert.Zero(t, g.CabinetDeliveriesWaiting)
	assert.Zero(t, g.OldestCabinetDeliverySeconds)

	maybe, err = s.SettleDelivery(ctx, "nobody", pyxis.DeliveryRevoke)
	require.NoError(t, err)
	assert.False(t, maybe)
}
