package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// backlogEndpoints are the endpoints the backlog scenario reports, in order.
var backlogEndpoints = []string{EndpointQueue, EndpointGet, EndpointFill}

// fillConcurrency is how many nurses fill the backlog at once.
const fillConcurrency = DefaultUsers

// backlog fills the queue with cfg.Backlog requests that nobody approves, then measures the
// pharmacists' queue and GET by id at cfg.Rate for the run's bound.
func (r *runner) backlog(ctx context.Context, rep *Report) error {
	cat, err := r.loadCatalogue(ctx)
	if err != nil {
		return err
	}
	// Requests that wait need no second pharmacist to be understood: plain medications only.
	cat.controlled = nil
	if err := r.topUp(ctx, cat, stockNeed(r.cfg.Backlog)); err != nil {
		return err
	}
	ph, err := newPharmacy(ctx, r)
	if err != nil {
		return err
	}
	bl := &BacklogReport{Requested: r.cfg.Backlog}

	r.begin(rep)
	prog := r.startProgressFunc(func() string {
		return fmt.Sprintf("backlog fill  %d/%d created  failures %d", r.created.Load(), r.cfg.Backlog, r.createFailures.Load())
	})
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		arrived atomic.Int64
	)
	for i := range fillConcurrency {
		wg.Go(func() {
			u, err := r.people.Get(nurseID(i), roleNurse)
			if err != nil {
				return
			}
			rng := r.rng(uint64(i))
			for ctx.Err() == nil && next.Add(1) <= int64(r.cfg.Backlog) {
				r.create(ctx, EndpointFill, u, r.newBody(rng, cat))
			}
		})
	}
	wg.Wait()
	prog.stop()
	r.mu.Lock()
	reqs := r.requests
	r.mu.Unlock()
	bl.Created, bl.CreateFailures = len(reqs), int(r.createFailures.Load())
	bl.FillSeconds = round(time.Since(r.start).Seconds(), 3)
	if bl.FillSeconds > 0 {
		bl.FillPerSecond = round(float64(bl.Created)/bl.FillSeconds, 3)
	}
	if bl.AwaitingApproval, err = r.awaitQueue(ctx, ph.staff[0], bl.Created); err != nil {
		return err
	}
	if r.mem != nil {
		r.mem.markFill()
	}
	if len(reqs) == 0 {
		return fmt.Errorf("the backlog could not be filled: %d creates failed", bl.CreateFailures)
	}

	measureStart := time.Now()
	b := newBudget(r.cfg.Requests, r.cfg.Duration, measureStart)
	prog = r.startProgressFunc(func() string {
		_, failures, p99 := r.rec.live([]string{EndpointQueue, EndpointGet})
		return fmt.Sprintf("backlog  %s  arrivals %d  failures %d  p99 ms: queue %.0f get %.0f",
			time.Since(measureStart).Truncate(time.Second), arrived.Load(), failures, p99[0], p99[1])
	})
	var arrivals sync.WaitGroup
	r.openArrivals(ctx, b, &arrivals, func(_ *simuser.User, n uint64) {
		arrived.Add(1)
		rng := r.rng(n + 1<<40)
		ph.peek(ctx, rng.IntN(len(ph.staff)))
		_, _, _ = r.get(ctx, EndpointGet, reqs[rng.IntN(len(reqs))])
	})
	arrivals.Wait()
	prog.stop()
	bl.MeasureSeconds = round(time.Since(measureStart).Seconds(), 3)
	bl.Arrivals = int(arrived.Load())
	if r.mem != nil {
		r.mem.sample()
	}
	if !r.env.Disposable {
		bl.CancelledAfter = r.cancelAll(ctx, reqs, func(s apiclient.RequestStatus) bool { return !s.Terminal() })
	}
	r.end(rep, backlogEndpoints)
	rep.Backlog = bl
	return nil
}

// peek is one look at the queue's first page by pharmacist i, as the queue screen loads.
func (ph *pharmacy) peek(ctx context.Context, i int) {
	_, _, _ = ph.r.queue(ctx, EndpointQueue, ph.staff[i], queuePageSize, "")
}

// awaitQueue waits until the queue lists at least want requests (the projection follows the
// workflows, which may take long to reach awaiting approval under a backlog), as long as the
// count keeps growing: it gives up when it has not grown for cfg.Settle. It returns how many
// the queue lists.
func (r *runner) awaitQueue(ctx context.Context, u *simuser.User, want int) (int, error) {
	last, progress := -1, time.Now()
	for {
		n, err := r.countQueue(ctx, u)
		if err != nil || n >= want {
			return n, err
		}
		if n > last {
			last, progress = n, time.Now()
		} else if time.Since(progress) >= r.cfg.Settle {
			return n, nil
		}
		if !simuser.Pause(ctx, 2*time.Second) {
			return n, ctx.Err()
		}
	}
}

// countQueue counts the requests awaiting approval, page by page (not measured).
func (r *runner) countQueue(ctx context.Context, u *simuser.User) (int, error) {
	n, cursor := 0, ""
	for {
		page, o, err := r.queue(ctx, "", u, 200, cursor)
		if err == nil && o.status != http.StatusOK {
			err = fmt.Errorf("answered %d %s", o.status, o.code)
		}
		if err != nil {
			return n, fmt.Errorf("count the queue: %w", err)
		}
		n += len(page.Data)
		if cursor = deref(page.NextCursor); cursor == "" {
			return n, nil
		}
	}
}
