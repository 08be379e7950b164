package db_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// Concurrent reads are logged in shared commits, each row committed before LogAccess
// returns (before the answer), and a row the database refuses fails only its own read.
func TestAccessLogGroupCommit(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	s := db.NewStore(pool)
	ctx := testCtx(t)
	const n = 64
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		found = make([]int, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := "request.read"
			if i == 0 {
				action = "" // refused by the table's CHECK
			}
			<-start
			errs[i] = s.LogAccess(ctx, db.AccessEntry{Actor: pyxis.Actor{ID: "nurse-1", Role: "nurse"}, Action: action,
				Endpoint: "GET /v1/requests/:id", RequestIDs: []string{fmt.Sprintf("medreq-%d", i)}, HTTPRequestID: fmt.Sprintf("http-%d", i)})
			if errs[i] == nil {
				// As the answer would be sent now: the row is there for everyone.
				errs[i] = pool.QueryRow(ctx, "SELECT count(*) FROM access_log WHERE http_request_id = $1", fmt.Sprintf("http-%d", i)).Scan(&found[i])
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Error(t, errs[0], "the refused row")
	for i := 1; i < n; i++ {
		require.NoError(t, errs[i], i)
		assert.Equal(t, 1, found[i], "read %d logged before its answer", i)
	}
	// Rows written by one transaction share its id (xmin).
	var rows, commits int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT xmin::text) FROM access_log").Scan(&rows, &commits))
	assert.Equal(t, n-1, rows)
	assert.Less(t, commits, rows, "concurrent reads share commits")
	t.Logf("%d reads logged in %d commits", rows, commits)
}
