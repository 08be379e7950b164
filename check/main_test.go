package check

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medreq/pyxis/db/dbtest"
)

// The checker's tests run it against a real Postgres (dbtest), with the Temporal side made
// up (fake_test.go). The end-to-end tests (e2e) run it against a real Temporal server too.
func TestMain(m *testing.M) {
	dbtest.MainWith(m, func(url string) func() {
		var pool *pgxpool.Pool
		shared.pool = sync.OnceValues(func() (*pgxpool.Pool, error) {
			var err error
			pool, err = pgxpool.New(context.Background(), url)
			return pool, err
		})
		return func() {
			if pool != nil {
				pool.Close()
			}
		}
	})
}
