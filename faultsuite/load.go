package faultsuite

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/faultsuite/verdict"

	"github.com/medreq/pyxis/loadtest/simuser"
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
	cfg    LoadConfig
	cl     *simuser.Client
	people *simuser.People
	reqs   []*request
	// inflight counts the POSTs on the way: sent, not answered.
	inflight atomic.Int64

	mu       sync.Mutex
	statuses map[string]string
	// answers counts the API's answers by status; errors the calls that got none.
	answers  map[int]int
	errors   int
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
	cl, err := simuser.NewClient(cfg.API, &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}})
	if err != nil {
		return nil, err
	}
	l := &Load{
		cfg: cfg, cl: cl, people: simuser.NewPeople(cfg.Secret, "", 12*time.Hour, simuser.Pace{}),
		statuses: map[string]string{}, answers: map[int]int{}, release: make(chan struct{}),
	}
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
		bed := fmt.Sprintf("%d%c", 1+rng.IntN(40), 'A'+rune(rng.IntN(4)))
		body := apiclient.CreateRequestBody{
			CabinetId: l.cfg.Cabinets[i%len(l.cfg.Cabinets)],
			Patient:   apiclient.PatientBody{Mrn: fmt.Sprintf("FT-%08d", rng.IntN(100_000_000)), Bed: &bed},
			Priority:  apiclient.Urgent,
		}
		for _, j := range rng.Perm(len(l.cfg.Medications))[:1+rng.IntN(min(2, len(l.cfg.Medications)))] {
			body.Items = append(body.Items, apiclient.ItemBody{MedicationId: l.cfg.Medications[j], Quantity: 1})
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
func (l *Load) run(ctx context.Context, r *request, body apiclient.CreateRequestBody, nurse, pharm string, delay time.Duration) {
	if !l.create(ctx, r, body, nurse) {
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
		if !simuser.Pause(ctx, 200*time.Millisecond) {
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
	if !simuser.Pause(ctx, delay) {
		return
	}
	l.approve(ctx, r, pharm)
}

// create posts the request as the nurse, with its Idempotency-Key on every try, and reports
// whether an answer acknowledged it.
func (l *Load) create(ctx context.Context, r *request, body apiclient.CreateRequestBody, nurse string) bool {
	u, err := l.people.Get(nurse, pyxis.RoleNurse)
	if err != nil {
		l.giveUp(r, "create: "+err.Error())
		return false
	}
	var v apiclient.RequestView
	cut := false
	a, tries := l.cl.Retry(ctx, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		l.inflight.Add(1)
		defer l.inflight.Add(-1)
		return l.cl.API.CreateRequest(ctx, &apiclient.CreateRequestParams{IdempotencyKey: &r.key}, body, eds...)
	}, &v, l.cfg.Bound, func(a simuser.Answer) {
		l.count(a)
		cut = cut || a.Err != nil
		if a.OK() && v.Id != "" {
			l.mu.Lock()
			r.ids[v.Id] = true
			l.mu.Unlock()
		}
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	r.resumed = cut && a.Header.Get("Idempotent-Replayed") == "true"
	if a.OK() && v.Id != "" {
		r.created, r.id = true, v.Id
		return true
	}
	r.gaveUp = "create: " + answerString(a, tries)
	return false
}

// approve approves the request as the pharmacist, until an answer says it is approved.
func (l *Load) approve(ctx context.Context, r *request, pharm string) {
	u, err := l.people.Get(pharm, pyxis.RolePharmacist)
	if err != nil {
		l.giveUp(r, "approve: "+err.Error())
		return
	}
	note := "fault scenario"
	for attempt := 0; ; attempt++ {
		a, tries := l.cl.Retry(ctx, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
			return l.cl.API.ApproveRequest(ctx, r.id, apiclient.NoteBody{Note: &note}, eds...)
		}, nil, l.cfg.Bound, l.count)
		switch {
		case a.OK(), a.Code == string(apiclient.ErrorCodeDuplicateApproval):
			l.approves.Add(1)
			l.mu.Lock()
			r.approved = true
			l.mu.Unlock()
			return
		case a.Code == string(apiclient.ErrorCodeInvalidState):
			// Approved by an earlier try whose answer was lost, or not yet awaiting it.
			if st := l.status(r.id); st != string(workflows.StatusAwaitingApproval) && st != string(workflows.StatusSubmitted) {
				l.mu.Lock()
				r.approved = true
				l.mu.Unlock()
				return
			}
		default:
			l.giveUp(r, "approve: "+answerString(a, tries))
			return
		}
		if attempt > 50 || !simuser.Pause(ctx, 300*time.Millisecond) {
			return
		}
	}
}

// count counts an answer of the API (or its absence).
func (l *Load) count(a simuser.Answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.Err != nil {
		l.errors++
	} else {
		l.answers[a.Status]++
	}
}

func (l *Load) giveUp(r *request, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.gaveUp = why
}

// answerString describes the last answer of a call for the notes.
func answerString(a simuser.Answer, tries int) string {
	if a.Err != nil {
		return fmt.Sprintf("no answer after %d tries: %v", tries, a.Err)
	}
	return fmt.Sprintf("%d %s after %d tries", a.Status, a.Code, tries)
}

// Release lets the held requests be approved.
func (l *Load) Release() { l.once.Do(func() { close(l.release) }) }

// Started is how many requests have been started so far.
func (l *Load) Started() int { return int(l.started.Load()) }

// InFlightPosts is how many POSTs are on the way now.
func (l *Load) InFlightPosts() int { return int(l.inflight.Load()) }

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

// Outcome returns what the client saw; call it after Wait.
func (l *Load) Outcome() verdict.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := verdict.Outcome{Keys: len(l.reqs), GaveUp: map[string]string{}}
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
	o.Answers, o.Errors = maps.Clone(l.answers), l.errors
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
		if !simuser.Pause(ctx, 500*time.Millisecond) {
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
	l.cl.Close()
}
