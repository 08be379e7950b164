package db

import (
	"context"
	"sync"
	"time"

	"github.com/medreq/pyxis/db/gen"
)

// Group commit of the access log. Every read of patient data is logged before its answer
// (LogAccess returns once the row is committed), and every statement and commit costs CPU and
// a connection. Reads that arrive together share them: the first read of a batch leads it,
// and flushes it at once while fewer than accessMaxFlushes flushes are in flight; otherwise
// it waits, at most accessMaxWait, for one of them to end, while the reads arriving meanwhile
// join its batch. So a lone read waits for nobody, a few concurrent ones commit side by side
// (Postgres flushes their WAL together), and under load one statement and one commit carry
// many rows.
const (
	// accessMaxWait bounds how long a read waits for others to join its batch.
	accessMaxWait = 3 * time.Millisecond
	// accessMaxBatch bounds the rows of one batch; a full batch is flushed at once.
	accessMaxBatch = 256
	// accessMaxFlushes is how many flushes may run before reads start to wait for a batch.
	// Measured with BenchmarkLogAccess (README, Performance): with 1, eight concurrent
	// readers waited on one another's flushes and ran at half the rate of unbatched inserts;
	// with 4, they ran as unbatched, and 32 readers twice as fast.
	accessMaxFlushes = 4
	// accessFlushTimeout bounds a flush, which runs apart from its leader's context: the
	// other reads of the batch wait for it.
	accessFlushTimeout = 10 * time.Second
)

// accessBatcher groups concurrent access-log inserts into one statement each.
type accessBatcher struct {
	mu   sync.Mutex
	open *accessBatch
	// inFlight holds a token per flush running that did not time out waiting for one.
	inFlight chan struct{}
}

// accessBatch is the rows of one statement, and its outcome once done is closed.
type accessBatch struct {
	rows []gen.InsertAccessBatchParams
	full chan struct{}
	done chan struct{}
	// errs is each row's error, set before done is closed.
	errs []error
}

func newAccessBatcher() *accessBatcher {
	return &accessBatcher{inFlight: make(chan struct{}, accessMaxFlushes)}
}

// log appends row in a batch and returns once that batch is committed, or ctx ends.
func (a *accessBatcher) log(ctx context.Context, q *gen.Queries, row gen.InsertAccessBatchParams) error {
	a.mu.Lock()
	b, lead := a.open, false
	if b == nil {
		b = &accessBatch{full: make(chan struct{}), done: make(chan struct{})}
		a.open, lead = b, true
	}
	i := len(b.rows)
	b.rows = append(b.rows, row)
	if len(b.rows) == accessMaxBatch {
		close(b.full)
		a.open = nil
	}
	a.mu.Unlock()
	if lead {
		a.flush(ctx, q, b)
	}
	select {
	case <-b.done:
		return b.errs[i]
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush waits for a flush slot (at most accessMaxWait, or until b is full), closes b to
// newcomers and writes it.
func (a *accessBatcher) flush(ctx context.Context, q *gen.Queries, b *accessBatch) {
	timer := time.NewTimer(accessMaxWait)
	defer timer.Stop()
	token := false
	select {
	case a.inFlight <- struct{}{}:
		token = true
	case <-b.full:
	case <-timer.C:
	}
	a.mu.Lock()
	if a.open == b {
		a.open = nil
	}
	a.mu.Unlock()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), accessFlushTimeout)
	defer cancel()
	b.errs = make([]error, len(b.rows))
	insertAccess(fctx, q, b.rows, b.errs)
	if token {
		<-a.inFlight
	}
	close(b.done)
}

// insertAccess writes rows in one statement and sets each row's error in errs. A row the
// database refuses must not fail the reads it was grouped with: a failed statement is split
// in halves and each tried again, down to the row at fault.
func insertAccess(ctx context.Context, q *gen.Queries, rows []gen.InsertAccessBatchParams, errs []error) {
	_, err := q.InsertAccessBatch(ctx, rows)
	if err == nil || ctx.Err() != nil || len(rows) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	mid := len(rows) / 2
	insertAccess(ctx, q, rows[:mid], errs[:mid])
	insertAccess(ctx, q, rows[mid:], errs[mid:])
}
