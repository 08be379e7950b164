package db_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// BenchmarkLogAccess logs reads of patient data from 1, 8 and 32 concurrent readers, each
// call returning once its row is committed, as a GET does before it answers. ns/op is wall
// time per read.
//
//	go test -run '^$' -bench BenchmarkLogAccess -benchtime 2000x ./db/
func BenchmarkLogAccess(b *testing.B) {
	for _, readers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			ctx := testCtx(b)
			pool, err := db.Open(ctx, dbtest.URL(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			s := db.NewStore(pool)
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				errs = make(chan error, readers)
			)
			b.ResetTimer()
			for range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := s.LogAccess(ctx, db.AccessEntry{Actor: pyxis.Actor{ID: "nurse-1", Role: "nurse"},
							Action: "request.read", Endpoint: "GET /v1/requests/:id", RequestIDs: []string{fmt.Sprintf("medreq-%d", i)}}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
		})
	}
}
