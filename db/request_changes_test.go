package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestRequestChangesWakeSubscribers: every committed change of a request's row grows its
// version and wakes that request's subscribers and those of every request, not others; a
// rolled-back change wakes nobody.
func TestRequestChangesWakeSubscribers(t *testing.T) {
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	f := seed(t, s, 10)
	one := pyxis.Line{MedicationID: f.medA.ID, Quantity: 1}
	hold(t, s, f, "medreq-a", one)
	hold(t, s, f, "medreq-b", one)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	changes := s.ListenChanges(ctx)
	a, stopA := changes.Subscribe(ctx, "medreq-a")
	defer stopA()
	all, stopAll := changes.Subscribe(ctx, "")
	defer stopAll()
	b, stopB := changes.Subscribe(ctx, "medreq-b")
	defer stopB()

	before, err := s.GetRequestDetail(ctx, "medreq-a")
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE medication_requests SET updated_at = now() WHERE id = 'medreq-b'")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	_, err = pool.Exec(ctx, "UPDATE medication_requests SET updated_at = now() WHERE id = 'medreq-a'")
	require.NoError(t, err)
	<-a
	<-all
	after, err := s.GetRequestDetail(ctx, "medreq-a")
	require.NoError(t, err)
	assert.Equal(t, before.Version+1, after.Version)

	// b's change was rolled back: the notification of a's (delivered in commit order, after
	// anything b's could have sent) has arrived, and b heard nothing.
	select {
	case <-b:
		t.Fatal("a rolled-back change woke its subscriber")
	default:
	}
}
