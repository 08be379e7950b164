package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// hotPocketEndpoints are the endpoints the hot-pocket scenario reports, in order.
var hotPocketEndpoints = []string{EndpointCreate, EndpointGet, EndpointCancel}

// cleanupConcurrency is how many requests are cancelled at once when a scenario cleans up.
const cleanupConcurrency = 16

// hotPocket sends cfg.Requests nurses at one pocket of a fresh medication holding
// cfg.PocketStock units, all at once, one unit each. Every request must settle: reserved
// (awaiting approval) while stock lasts, failed for insufficient stock after.
func (r *runner) hotPocket(ctx context.Context, rep *Report) error {
	cat, err := r.loadCatalogue(ctx)
	if err != nil {
		return err
	}
	admin, err := r.people.Get(adminID, roleAdmin)
	if err != nil {
		return err
	}
	tech, err := r.people.Get(technicianID, roleTechnician)
	if err != nil {
		return err
	}
	cab := cat.cabinets[0]
	code := "LT-HOT-" + strings.ToUpper(r.runID)
	newMed := apiclient.CreateMedicationJSONRequestBody{
		Code: code, Name: "Load test hot pocket " + r.runID, Form: ptr("ampoule"), Unit: ptr("ampoule"),
	}
	var created apiclient.MedicationBody
	if err := r.api.must(ctx, admin, "create the hot pocket's medication", func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.CreateMedication(ctx, newMed, eds...)
	}, &created); err != nil {
		return err
	}
	if created.Id == nil {
		return errors.New("create the hot pocket's medication: the answer has no id")
	}
	med := medication{id: *created.Id, code: code}
	if err := r.setStock(ctx, tech, cab.id, med.id, apiclient.StockBody{OnHand: int32(r.cfg.PocketStock), ParLevel: 0}); err != nil {
		return fmt.Errorf("stock the hot pocket: %w", err)
	}
	n := r.cfg.Requests
	nurses := make([]*simuser.User, n)
	for i := range n {
		if nurses[i], err = r.people.Get(nurseID(i), roleNurse); err != nil {
			return err
		}
	}
	hp := &HotPocketReport{
		CabinetID: cab.id, MedicationID: med.id, MedicationCode: code, PocketStock: r.cfg.PocketStock,
		Requests: n, OtherStatuses: map[string]int64{},
	}
	// A thousand nurses looking every 250ms would be the load, not the pocket: they look less
	// often, at staggered times. The settle time is taken from the server's clock anyway.
	interval := max(r.cfg.PollInterval, time.Duration(n)*5*time.Millisecond)
	settled := func(s apiclient.RequestStatus) bool {
		return s == apiclient.RequestStatusAwaitingApproval || s.Terminal()
	}

	r.begin(rep)
	b := newBudget(n, 0, r.start)
	followCtx, cancelFollow := r.settleContext(ctx, b)
	defer cancelFollow()
	prog := r.startProgressFunc(func() string {
		return fmt.Sprintf("hot-pocket  created %d/%d  settled %d", r.created.Load(), n, r.finished.Load())
	})
	gate := make(chan struct{})
	var creates, all sync.WaitGroup
	creates.Add(n)
	for i, u := range nurses {
		all.Go(func() {
			<-gate
			t := r.create(ctx, EndpointCreate, u, apiclient.CreateRequestJSONRequestBody{
				CabinetId: cab.id, Priority: apiclient.Stat,
				Patient: apiclient.PatientBody{Mrn: fmt.Sprintf("LT-HOT-%06d", i), Bed: ptr("1A")},
				Items:   []apiclient.ItemBody{{MedicationId: med.id, Quantity: 1}},
			})
			creates.Done()
			if t == nil {
				return
			}
			if !simuser.Pause(followCtx, time.Duration(r.rng(uint64(i)).Int64N(int64(interval)))) {
				return
			}
			r.follow(followCtx, t, interval, settled)
		})
	}
	began := time.Now()
	close(gate)
	creates.Wait()
	b.close()
	all.Wait()
	var lastSeen time.Time
	r.mu.Lock()
	reqs := r.requests
	r.mu.Unlock()
	for _, t := range reqs {
		t.mu.Lock()
		if settled(t.status) && t.seenAt.After(lastSeen) {
			lastSeen = t.seenAt
		}
		t.mu.Unlock()
	}
	if !lastSeen.IsZero() {
		hp.SettleSeconds = round(lastSeen.Sub(began).Seconds(), 3)
	}
	prog.stop()
	r.tallyHotPocket(hp, reqs)

	if stock, err := r.stock(ctx, tech, cab.id); err == nil {
		for _, s := range stock {
			if s.MedicationId == med.id {
				hp.PocketOnHand, hp.PocketReserved = int(s.OnHand), int(s.Reserved)
			}
		}
	}
	// Give the pocket back: the reserved requests are cancelled by their nurses.
	hp.CancelledAfter = r.cancelAll(ctx, reqs, func(s apiclient.RequestStatus) bool { return s == apiclient.RequestStatusAwaitingApproval })
	r.end(rep, hotPocketEndpoints)
	rep.HotPocket = hp
	return nil
}

// tallyHotPocket counts how the requests settled, timing the reservations on the server's
// clock.
func (r *runner) tallyHotPocket(hp *HotPocketReport, reqs []*tracked) {
	hp.Created = len(reqs)
	hp.CreateFailures = int(r.createFailures.Load())
	hp.Expected = min(hp.PocketStock, hp.Created)
	var first, lastDecision, lastReserved time.Time
	for _, t := range reqs {
		status, createdAt, endAt, action, reason := t.view()
		decided := true
		switch {
		case status == apiclient.RequestStatusAwaitingApproval:
			hp.ReachedApproval++
			lastReserved = later(lastReserved, endAt)
		case status == apiclient.RequestStatusFailed && (action == "reserve_failed" || strings.Contains(reason, "insufficient stock")):
			hp.InsufficientStock++
		case status == apiclient.RequestStatusSubmitted:
			hp.Unsettled++
			decided = false
		default:
			hp.OtherStatuses[string(status)]++
		}
		if !createdAt.IsZero() && (first.IsZero() || createdAt.Before(first)) {
			first = createdAt
		}
		if decided {
			lastDecision = later(lastDecision, endAt)
		}
	}
	if span := lastDecision.Sub(first).Seconds(); !first.IsZero() && span > 0 {
		hp.ServerSpanSeconds = round(span, 3)
		hp.ReserveDecisionsPerSecond = round(float64(hp.Created-hp.Unsettled)/span, 3)
	}
	if span := lastReserved.Sub(first).Seconds(); !first.IsZero() && span > 0 {
		hp.ReservationsPerSecond = round(float64(hp.ReachedApproval)/span, 3)
	}
}

// cancelAll has each nurse cancel her requests that which selects, and returns how many were
// cancelled.
func (r *runner) cancelAll(ctx context.Context, reqs []*tracked, which func(apiclient.RequestStatus) bool) int {
	work := make(chan *tracked)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		cancelled int
	)
	for range cleanupConcurrency {
		wg.Go(func() {
			body := apiclient.CancelRequestJSONRequestBody{Reason: ptr("load test clean-up")}
			for t := range work {
				o, err := r.api.call(ctx, EndpointCancel, t.nurse, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
					return r.api.API.CancelRequest(ctx, t.id, body, eds...)
				}, nil, conflictOf(apiclient.ErrorCodeInvalidState))
				if err == nil && o.status == http.StatusAccepted {
					mu.Lock()
					cancelled++
					mu.Unlock()
				}
			}
		})
	}
	for _, t := range reqs {
		if status, _, _, _, _ := t.view(); which(status) {
			select {
			case work <- t:
			case <-ctx.Done():
			}
		}
	}
	close(work)
	wg.Wait()
	return cancelled
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
