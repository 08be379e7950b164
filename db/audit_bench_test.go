package db_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// BenchmarkAuditAppend appends audit entries, each in a transaction of its own (AppendAudit),
// from 1 and from 8 concurrent writers, with the sealer running as in the api and worker
// processes. ns/op is wall time per entry, so writers that scale show a smaller ns/op at 8
// than at 1, and writers that serialise on a lock do not. unsealed is how many entries the
// sealer had still to chain when the writers stopped.
//
//	go test -run '^$' -bench BenchmarkAuditAppend -benchtime 2000x ./db/
func BenchmarkAuditAppend(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := testCtx(b)
			// db.Open's pool (16 connections), as the processes use, so that 8 writers get
			// 8 connections.
			pool, err := db.Open(ctx, dbtest.URL(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			s := db.NewStore(pool)
			sealCtx, stopSealer := context.WithCancel(ctx)
			sealerDone := make(chan struct{})
			go func() { defer close(sealerDone); s.RunSealer(sealCtx) }()
			actor := pyxis.Actor{ID: "bench", Role: "technician"}
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				errs = make(chan error, writers)
			)
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := s.AppendAudit(ctx, pyxis.AuditEntry{Actor: actor, Action: "bench",
							Details: map[string]any{"i": i}}, ""); err != nil {
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			stopSealer()
			<-sealerDone
			v, err := s.VerifyAudit(ctx)
			if err != nil || !v.OK {
				b.Fatalf("verify: %+v %v", v, err)
			}
			b.ReportMetric(float64(v.Unsealed), "unsealed")
		})
	}
}
