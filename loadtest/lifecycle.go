package loadtest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/medreq/pyxis/loadtest/simuser"
)

// lifecycleEndpoints are the endpoints the lifecycle scenario reports, in order.
var lifecycleEndpoints = []string{EndpointCreate, EndpointGet, EndpointWait, EndpointQueue, EndpointApprove, EndpointReject}

// lifecycle is the default scenario: nurses create requests and follow them to the end,
// pharmacists work the queue, the cabinet withdraws.
func (r *runner) lifecycle(ctx context.Context, rep *Report) error {
	cat, err := r.loadCatalogue(ctx)
	if err != nil {
		return err
	}
	if err := r.topUp(ctx, cat, stockNeed(r.expectedArrivals())); err != nil {
		return err
	}
	ph, err := newPharmacy(ctx, r)
	if err != nil {
		return err
	}

	r.begin(rep)
	b := newBudget(r.cfg.Requests, r.cfg.Duration, r.start)
	followCtx, cancelFollow := r.settleContext(ctx, b)
	defer cancelFollow()
	stopPharmacists := ph.work(ctx)
	prog := r.startProgress(ScenarioLifecycle)

	var nurses sync.WaitGroup
	arrive := func(u *simuser.User, n uint64) {
		t := r.create(ctx, EndpointCreate, u, r.newBody(r.rng(n), cat))
		if t != nil {
			r.follow(followCtx, t, r.cfg.PollInterval, apiclient.RequestStatus.Terminal)
		}
	}
	if r.cfg.Closed() {
		r.closedArrivals(ctx, b, &nurses, arrive)
	} else {
		r.openArrivals(ctx, b, &nurses, arrive)
	}
	nurses.Wait()
	b.close()
	settle := time.Since(b.ended())
	stopPharmacists()
	prog.stop()

	eps := lifecycleEndpoints
	if r.cfg.WithdrawVia == WithdrawByAPI {
		eps = append(eps[:len(eps):len(eps)], EndpointWithdraw)
	}
	r.end(rep, eps)
	rep.Lifecycle = r.lifecycleReport(settle)
	rep.Lifecycle.GetsPerRequest = getsPerRequest(rep)
	// Interrupted, the run still reports what it measured; the baseline is left out.
	if r.cfg.Baseline && ctx.Err() == nil {
		concurrency := r.cfg.Users
		if !r.cfg.Closed() {
			concurrency = r.cfg.BaselineUsers
		}
		before := markCPU()
		base, err := r.baseline(ctx, int(rep.Lifecycle.Created), concurrency)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		if self, machine, ok := before.spent(); ok && rep.CPU != nil {
			rep.CPU.setBaseline(self.Seconds(), machine.Seconds(), base.Workflows)
		}
		rep.Baseline = base
		rep.BaselineRatio = baselineRatio(rep.Lifecycle, base)
	}
	return nil
}

// baselineRatio is how close the real lifecycle comes to bare Temporal's: requests dispensed
// a second over bare workflows completed a second. Only dispensed requests count: a system
// that rejects or fails everything finishes lifecycles quickly and dispenses nothing, and
// must not meet the target by it. nil without a baseline that completed anything.
func baselineRatio(lc *LifecycleReport, base *BaselineReport) *float64 {
	if lc == nil || base == nil || base.CompletedPerSecond <= 0 {
		return nil
	}
	ratio := round(lc.DispensedPerSecond/base.CompletedPerSecond, 4)
	return &ratio
}

// expectedArrivals is an upper bound of the requests the run may create.
func (r *runner) expectedArrivals() int {
	switch {
	case r.cfg.Requests > 0:
		return r.cfg.Requests
	case !r.cfg.Closed() && r.cfg.Duration > 0:
		return min(MaxRequests, int(math.Ceil(r.cfg.Rate*r.cfg.Duration.Seconds()))+1)
	}
	return MaxRequests
}

// closedArrivals runs cfg.Users nurses, each creating her next request when the last is done,
// until the budget ends.
func (r *runner) closedArrivals(ctx context.Context, b *budget, wg *sync.WaitGroup, arrive func(u *simuser.User, n uint64)) {
	for i := range r.cfg.Users {
		wg.Go(func() {
			u, err := r.people.Get(nurseID(i), roleNurse)
			if err != nil {
				return
			}
			for n := uint64(0); ctx.Err() == nil && b.take(); n++ {
				before := r.createFailures.Load()
				arrive(u, uint64(i)<<32|n)
				if r.createFailures.Load() != before {
					// A nurse whose request was refused tries again, not at once.
					simuser.Pause(ctx, r.cfg.PollInterval)
				}
			}
		})
	}
}

// openArrivals starts a nurse's request cfg.Rate times a second, paced by vegeta's constant
// pacer whatever the system answers, until the budget ends. Each arrival is a nurse of her
// own (ids cycle after MaxUsers), so no nurse outruns her rate limit.
func (r *runner) openArrivals(ctx context.Context, b *budget, wg *sync.WaitGroup, arrive func(u *simuser.User, n uint64)) {
	pacer := constantPacer(r.cfg.Rate)
	began := time.Now()
	for hits := uint64(0); ; hits++ {
		wait, stop := pacer.Pace(time.Since(began), hits)
		if stop || !simuser.Pause(ctx, wait) || !b.take() {
			b.close()
			return
		}
		u, err := r.people.Get(nurseID(int(hits%MaxUsers)), roleNurse)
		if err != nil {
			b.close()
			return
		}
		wg.Go(func() { arrive(u, hits) })
	}
}

// constantPacer paces rate arrivals a second; a fractional rate is kept to a thousandth.
func constantPacer(rate float64) vegeta.Pacer {
	if rate == math.Trunc(rate) {
		return vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	}
	return vegeta.ConstantPacer{Freq: int(math.Round(rate * 1000)), Per: 1000 * time.Second}
}

// lifecycleReport tallies what became of the created requests, timing each from its own
// server-side timestamps.
// getsPerRequest is how many reads of one request (immediate and waiting) the nurses made
// per request created: what following a request costs the API.
func getsPerRequest(rep *Report) float64 {
	if rep.Lifecycle == nil || rep.Lifecycle.Created == 0 {
		return 0
	}
	var n int64
	for _, ep := range []string{EndpointGet, EndpointWait} {
		if e := rep.Endpoint(ep); e != nil {
			n += e.Count
		}
	}
	return round(float64(n)/float64(rep.Lifecycle.Created), 2)
}

func (r *runner) lifecycleReport(settle time.Duration) *LifecycleReport {
	lr := &LifecycleReport{
		Created: r.created.Load(), CreateFailures: r.createFailures.Load(),
		Statuses: map[string]int64{}, SettleSeconds: round(settle.Seconds(), 3),
	}
	dispensed, terminal := newLifecycleHistogram(), newLifecycleHistogram()
	var first, last time.Time
	r.mu.Lock()
	reqs := r.requests
	r.mu.Unlock()
	for _, t := range reqs {
		status, createdAt, endAt, _, _ := t.view()
		lr.Statuses[string(status)]++
		if !status.Terminal() {
			lr.NonTerminal++
			continue
		}
		lr.Terminal++
		if createdAt.IsZero() || endAt.IsZero() {
			continue
		}
		us := min(max(endAt.Sub(createdAt).Microseconds(), 1), lifecycleMaxMicros)
		_ = terminal.RecordValue(us)
		if status == apiclient.RequestStatusDispensed {
			_ = dispensed.RecordValue(us)
		}
		if first.IsZero() || createdAt.Before(first) {
			first = createdAt
		}
		if endAt.After(last) {
			last = endAt
		}
	}
	if span := last.Sub(first).Seconds(); span > 0 {
		lr.SpanSeconds = round(span, 3)
		lr.CompletedPerSecond = round(float64(lr.Terminal)/span, 3)
		lr.DispensedPerSecond = round(float64(dispensed.TotalCount())/span, 3)
	}
	lr.Latency = latencyOf(dispensed, 1e-3)
	lr.TerminalLatency = latencyOf(terminal, 1e-3)
	lr.Histogram = bucketsOf(dispensed, 1e-3)
	return lr
}
