package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/workflows"
)

// LoadConfig is the load a scenario runs under.
type LoadConfig struct {
	// API is the API's base URL; Secret signs the users' tokens.
	API    string
	Secret []byte
	// Requests is how many requests are made, Rate how many a second are started.
	Requests int
	Rate     float64
	// ApproveWithin: each request not held is approved at a random time up to this long
	// after it awaits approval.
	ApproveWithin time.Duration
	// HeldShare of the requests are approved only after Release (they await approval while
	// the fault is on).
	HeldShare float64
	// Cabinets and Medications are what the requests ask for (medications that need one
	// approval).
	Cabinets    []int64
	Medications []int64
	// Statuses reads every request's status from the projection (id → status); the
	// approvers and Settle watch it.
	Statuses func(ctx context.Context) (map[string]string, error)
	// Bound is how long one call may keep being retried before the load gives up on it
	// (default 5 minutes).
	Bound time.Duration
	// Seed makes the load repeatable.
	Seed uint64
}

// request is one request of the load, as the client knows it.
type request struct {
	key      string
	held     bool
	id       string
	ids      map[string]bool // every id an answer to its POST named
	created  bool
	approved bool
	gaveUp   string
	// resumed: a try of its POST got no answer and a later one was answered as a replay.
	resumed bool
}

// Load is a running load: nurses creating requests with an Idempotency-Key each, a pharmacist
// approving them, the simulated cabinet withdrawing.
type Load struct {
	cfg  LoadConfig
	cl   *client
	reqs []*request

	mu       sync.Mutex
	statuses map[string]string
	release  chan struct{}
	once     sync.Once
	wg       sync.WaitGroup // arrivals and requests
	watchWG  sync.WaitGroup
	started  atomic.Int64
	approves atomic.Int64
	stop     context.CancelFunc
}

// StartLoad starts the load and returns at once.
func StartLoad(ctx context.Context, cfg LoadConfig) (*Load, error) {
	if cfg.Requests <= 0 || len(cfg.Cabinets) == 0 || len(cfg.Medications) == 0 || cfg.Statuses == nil {
		return nil, fmt.Errorf("faults: a load needs requests, cabinets, medications and statuses")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.Bound <= 0 {
		cfg.Bound = 5 * time.Minute
	}
	l := &Load{cfg: cfg, cl: newClient(cfg.API, cfg.Secret, cfg.Bound), statuses: map[string]string{}, release: make(chan struct{})}
	rng := rand.New(rand.NewPCG(cfg.Seed, 13))
	for i := range cfg.Requests {
		l.reqs = append(l.reqs, &request{key: fmt.Sprintf("fault-%d-%05d", cfg.Seed, i), held: rng.Float64() < cfg.HeldShare, ids: map[string]bool{}})
	}
	ctx, l.stop = context.WithCancel(ctx)
	l.watchWG.Add(1)
	go l.watch(ctx)
	l.wg.Add(1)
	go l.arrive(ctx, rng)
	return l, nil
}

// watch reads the statuses every 300ms until the load stops; a read that fails (a database
// that is down) keeps the last ones.
func (l *Load) watch(ctx context.Context) {
	defer l.watchWG.Done()
	for {
		if st, err := l.cfg.Statuses(ctx); err == nil {
			l.mu.Lock()
			l.statuses = st
			l.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (l *Load) status(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[id]
}

// arrive starts the requests at the configured rate, each in a goroutine of its own.
func (l *Load) arrive(ctx context.Context, rng *rand.Rand) {
	defer l.wg.Done()
	every := time.Duration(float64(time.Second) / l.cfg.Rate)
	next := time.Now()
	for i, r := range l.reqs {
		body := api.CreateRequestBody{
			CabinetID: l.cfg.Cabinets[i%len(l.cfg.Cabinets)],
			Patient:   api.PatientBody{MRN: fmt.Sprintf("FT-%08d", rng.IntN(100_000_000)), Bed: fmt.Sprintf("%d%c", 1+rng.IntN(40), 'A'+rune(rng.IntN(4)))},
			Priority:  string(pyxis.PriorityUrgent),
		}
		for _, j := range rng.Perm(len(l.cfg.Medications))[:1+rng.IntN(min(2, len(l.cfg.Medications)))] {
			body.Items = append(body.Items, api.ItemBody{MedicationID: l.cfg.Medications[j], Quantity: 1})
		}
		delay := time.Duration(rng.Int64N(int64(max(l.cfg.ApproveWithin, time.Millisecond))))
		nurse := fmt.Sprintf("ft-nurse-%03d", i%40)
		pharm := fmt.Sprintf("ft-pharm-%02d", i%8)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.started.Add(1)
			l.run(ctx, r, body, nurse, pharm, delay)
		}()
		next = next.Add(every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// run creates one request, waits for it to await approval, and approves it.
func (l *Load) run(ctx context.Context, r *request, body api.CreateRequestBody, nurse, pharm string, delay time.Duration) {
	var v api.RequestView
	res := l.cl.call(ctx, nurse, pyxis.RoleNurse, "POST", "/v1/requests", r.key, body, &v)
	l.mu.Lock()
	for _, id := range res.ids {
		r.ids[id] = true
	}
	r.resumed = res.cut && res.replayed
	if res.ok() && v.ID != "" {
		r.created, r.id = true, v.ID
	} else {
		r.gaveUp = "create: " + res.String()
	}
	l.mu.Unlock()
	if !r.created {
		return
	}
	// Wait until it awaits approval (or ended: insufficient stock, say).
	for {
		st := l.status(r.id)
		if st == string(workflows.StatusAwaitingApproval) {
			break
		}
		if st != "" && st != string(workflows.StatusSubmitted) {
			return
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return
		}
	}
	if r.held {
		select {
		case <-l.release:
		case <-ctx.Done():
			return
		}
	}
	if !sleep(ctx, delay) {
		return
	}
	for attempt := 0; ; attempt++ {
		res := l.cl.call(ctx, pharm, pyxis.RolePharmacist, "POST", "/v1/requests/"+r.id+"/approve", "", api.NoteBody{Note: "fault scenario"}, nil)
		switch {
		case res.ok(), res.code == api.CodeDuplicateApproval:
			l.approves.Add(1)
			l.mu.Lock()
			r.approved = true
			l.mu.Unlock()
			return
		case res.code == api.CodeInvalidState:
			// Approved by an earlier try whose answer was lost, or not yet awaiting it.
			if st := l.status(r.id); st != string(workflows.StatusAwaitingApproval) && st != string(workflows.StatusSubmitted) {
				l.mu.Lock()
				r.approved = true
				l.mu.Unlock()
				return
			}
		default:
			l.mu.Lock()
			r.gaveUp = "approve: " + res.String()
			l.mu.Unlock()
			return
		}
		if attempt > 50 || !sleep(ctx, 300*time.Millisecond) {
			return
		}
	}
}

// Release lets the held requests be approved.
func (l *Load) Release() { l.once.Do(func() { close(l.release) }) }

// Started is how many requests have been started so far.
func (l *Load) Started() int { return int(l.started.Load()) }

// InFlightPosts is how many POSTs are on the way now.
func (l *Load) InFlightPosts() int { return int(l.cl.inflight.Load()) }

// Spread counts the load's requests by the status the projection shows now; a request not
// there yet counts as "reserving" once started.
func (l *Load) Spread() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, r := range l.reqs {
		switch st := l.statuses[r.id]; {
		case r.id == "" || st == "" || st == string(workflows.StatusSubmitted):
			if !r.created && r.gaveUp == "" && len(r.ids) == 0 {
				continue
			}
			out["reserving"]++
		case st == string(workflows.StatusApproved):
			out["commanding"]++
		case st == string(workflows.StatusReadyAtCabinet):
			out["awaiting_withdrawal"]++
		default:
			out[st]++
		}
	}
	return out
}

// Wait waits until every request was made and every approval given (or given up on), then
// stops watching.
func (l *Load) Wait() {
	l.Release()
	l.wg.Wait()
}

// Outcome is what the client saw of the load, for the verdict.
type Outcome struct {
	// Keys is how many requests the nurses meant to make; Created how many were
	// acknowledged with an id.
	Keys, Created int
	// IDs are the acknowledged requests' ids.
	IDs []string
	// Unacknowledged are the keys never acknowledged; Split the keys whose answers named
	// more than one request id (a duplicate).
	Unacknowledged, Split []string
	// GaveUp says, per key, what call was given up on and why.
	GaveUp map[string]string
	// Resumed counts the POSTs the API had accepted when a fault cut their answer off, and
	// answered as a replay when the client tried again with the same Idempotency-Key.
	Resumed int
	// Answers counts the API's answers by status; Errors the calls that got no answer.
	Answers map[int]int
	Errors  int
}

// Outcome returns what the client saw; call it after Wait.
func (l *Load) Outcome() Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := Outcome{Keys: len(l.reqs), GaveUp: map[string]string{}}
	for _, r := range l.reqs {
		if r.created {
			o.Created++
			o.IDs = append(o.IDs, r.id)
		} else {
			o.Unacknowledged = append(o.Unacknowledged, r.key)
		}
		if r.resumed {
			o.Resumed++
		}
		if len(r.ids) > 1 {
			o.Split = append(o.Split, r.key)
		}
		if r.gaveUp != "" {
			o.GaveUp[r.key] = r.gaveUp
		}
	}
	o.Answers, o.Errors = l.cl.counts()
	return o
}

// Settle waits until every acknowledged request is in a terminal status, or ctx ends; it
// returns the requests still not terminal.
func (l *Load) Settle(ctx context.Context, ids []string) []string {
	for {
		st, err := l.cfg.Statuses(ctx)
		var open []string
		if err == nil {
			for _, id := range ids {
				if !workflows.Status(st[id]).Terminal() {
					open = append(open, id)
				}
			}
			if len(open) == 0 {
				return nil
			}
		}
		if !sleep(ctx, 500*time.Millisecond) {
			if err != nil {
				return ids
			}
			return open
		}
	}
}

// Close stops the load's goroutines.
func (l *Load) Close() {
	l.stop()
	l.Release()
	l.wg.Wait()
	l.watchWG.Wait()
	l.cl.close()
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
